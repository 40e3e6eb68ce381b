"""Running Alembic migrations from code (the CLI's `migrate`, `up` and the tests use this)."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def upgrade_to_head() -> None:
    """Bring the configured database to the newest schema and add the work-calendar years the calendar
    package knows that the database lacks (safe to run on every start; never overwrites a year)."""
    from dispatch.db import new_session
    from dispatch.workcal.service import sync_from_package

    command.upgrade(alembic_config(), "head")
    with new_session() as session:
        sync_from_package(session)
        session.commit()


@functools.cache
def head_revision() -> str:
    """The newest migration this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return head or ""


def make_revision(message: str) -> None:
    """Autogenerate a new migration from the models (developers only)."""
    command.revision(alembic_config(), message=message, autogenerate=True)
