"""Admin API of the 考核模板: its versions, a new version from JSON or from a YAML/CSV file, download."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, UploadFile
from fastapi.responses import PlainTextResponse

from dispatch.auth.deps import Admin
from dispatch.db import SessionDep
from dispatch.errors import InvalidInput
from dispatch.inputs import DbId
from dispatch.openapi import error_responses
from dispatch.scoring import files, service
from dispatch.scoring.models import ScoringTemplate
from dispatch.scoring.template import Problem, Template

router = APIRouter(prefix="/api/admin/scoring-templates", tags=["admin: scoring"])
Format = Literal["yaml", "csv"]
TemplateBody = Annotated[
    dict[str, Any],
    Body(
        description="title and the four sections department, street, community, officer — each "
        "{rates: {name: weight}, deductions: {name: {points, cap}}}, as in the YAML file",
        examples=[
            {
                "title": "考核办法",
                "department": {
                    "rates": {"response_rate": 50, "closure_rate": 50},
                    "deductions": {"overdue": {"points": 1, "cap": 10}},
                },
            }
        ],
    ),
]


def _meta(row: ScoringTemplate) -> dict[str, Any]:
    return {
        "version": row.id,
        "title": row.title,
        "source": row.source,
        "created_at": row.created_at,
        "created_by": row.created_by,
    }


def _save(
    session: SessionDep,
    parsed: tuple[Template | None, list[Problem]],
    *,
    field: str,
    source: str,
    by: str,
    dry_run: bool,
) -> dict[str, Any]:
    template, problems = parsed
    if template is None:
        listed = [p.to_dict() for p in problems]
        raise InvalidInput(f"考核模板有 {len(listed)} 处问题，未保存", field=field, problems=listed)
    if dry_run:
        return {"saved": False, "version": None, "template": template.to_json()}
    row = service.save_template(session, template, source=source, by=by)
    return {"saved": True, **_meta(row), "template": row.body}


@router.get("")
def list_versions(_: Admin, session: SessionDep) -> dict[str, Any]:
    """Every version, newest first; `current` (the one in force, with its content) is the newest."""
    rows = service.versions(session)
    current = {**_meta(rows[0]), "template": rows[0].body} if rows else None
    return {"current": current, "versions": [_meta(row) for row in rows]}


@router.put("", responses=error_responses(422))
def put_template(
    body: TemplateBody, admin: Admin, session: SessionDep, dry_run: bool = False
) -> dict[str, Any]:
    """Save a new version from JSON of the YAML file's shape; 422 with every problem (`problems`:
    line null, field, message), nothing stored."""
    return _save(
        session, files.parse_json(body), field="body", source="api", by=admin.username, dry_run=dry_run
    )


@router.post("/import", responses=error_responses(422))
async def import_template(
    file: UploadFile,
    admin: Admin,
    session: SessionDep,
    fmt: Format = "yaml",
    title: Annotated[str, Query(max_length=128)] = "",
    dry_run: bool = False,
) -> dict[str, Any]:
    """Check a whole YAML or CSV template file; if it has no problem (and this is no dry run) store it
    as a new version, in force from now on. Problems answer 422 listing each with its `line`, `field`
    and `message`; nothing is stored. For CSV, `title` names the version."""
    try:
        text = (await file.read()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("文件不是 UTF-8 编码", field="file") from exc
    parsed = files.parse(text, fmt=fmt, title=title)
    return _save(session, parsed, field="file", source=fmt, by=admin.username, dry_run=dry_run)


@router.get(
    "/export",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}, "application/yaml": {}}}, **error_responses(404)},
)
def export_template(
    _: Admin, session: SessionDep, fmt: Format = "yaml", version: DbId | None = None
) -> PlainTextResponse:
    """The template in force (or `version`) as a file in the import format (loads back unchanged)."""
    row = service.template_version(session, version)
    template = Template.from_json(row.body)
    if fmt == "csv":
        text, media = files.to_csv(template), "text/csv"
    else:
        heading = f"考核模板 v{row.id}（{row.source}，{row.created_by}，{row.created_at:%Y-%m-%d %H:%M} UTC）"
        text, media = files.to_yaml(template, heading=heading), "application/yaml"
    return PlainTextResponse(
        text,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="scoring-template-v{row.id}.{fmt}"'},
    )


@router.get("/{version}", responses=error_responses(404))
def get_version(version: DbId, _: Admin, session: SessionDep) -> dict[str, Any]:
    row = service.template_version(session, version)
    return {**_meta(row), "template": row.body}
