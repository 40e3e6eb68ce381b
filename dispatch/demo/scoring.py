"""The demo district's 考核模板 (dispatch/demo/scoring.yaml), stored as version 1 by seed_demo."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from dispatch.scoring.files import parse_yaml
from dispatch.scoring.models import ScoringTemplate
from dispatch.scoring.service import save_template

TEMPLATE_PATH = Path(__file__).with_name("scoring.yaml")


def seed_scoring_template(session: Session) -> ScoringTemplate:
    template, problems = parse_yaml(TEMPLATE_PATH.read_text("utf-8"))
    if template is None:
        raise RuntimeError(f"demo scoring template does not load: {problems[:3]}")
    return save_template(session, template, source="demo", by="演示数据")
