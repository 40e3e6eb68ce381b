"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL.

A district upgrades in place with `grid-dispatch migrate`: if a model change ships without its
migration, production runs on a schema the code does not expect. And `up` runs the upgrade on every
start, so running it again on a current database must change nothing.
"""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, inspect, text
from sqlmodel import select

from dispatch.db import get_engine, new_session
from dispatch.migrate import alembic_config, upgrade_to_head
from dispatch.models import Category, User, metadata


def _diff(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _schema(engine: Engine) -> dict[str, Any]:
    inspector = inspect(engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted(str(sorted(i["column_names"])) + str(i["unique"]) for i in inspector.get_indexes(table)),
        )
        for table in sorted(inspector.get_table_names())
    }


def test_database_is_at_the_single_head(database_url: str) -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migration history has branched: {heads}"
    assert _revision(get_engine()) == heads[0]


def test_models_and_migrated_schema_do_not_differ(database_url: str) -> None:
    engine = get_engine()
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert _diff(engine) == []


def test_comparison_would_notice_a_missing_migration(database_url: str) -> None:
    """Guards the test above: an index missing from the database is reported as a difference."""
    engine = get_engine()
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_ticket_log_ticket_id"))
    diff = _diff(engine)
    assert any(d[0] == "add_index" and d[1].name == "ix_ticket_log_ticket_id" for d in diff), diff


def test_upgrade_again_is_a_no_op(database_url: str) -> None:
    engine = get_engine()
    revision, schema = _revision(engine), _schema(engine)
    with new_session() as session:
        users = session.exec(select(func.count()).select_from(User)).one()
        categories = session.exec(select(func.count()).select_from(Category)).one()
    engine.dispose()  # no open connection from this test may hold locks during the upgrade

    upgrade_to_head()
    upgrade_to_head()

    assert _revision(engine) == revision
    assert _schema(engine) == schema
    assert _diff(engine) == []
    with new_session() as session:
        assert session.exec(select(func.count()).select_from(User)).one() == users
        assert session.exec(select(func.count()).select_from(Category)).one() == categories


def test_downgrade_to_base_and_up_again_rebuilds_the_same_schema(database_url: str) -> None:
    """The downgrade path of every revision runs, and the way back up lands on the same schema."""
    engine = get_engine()
    schema = _schema(engine)
    engine.dispose()
    command.downgrade(alembic_config(), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade_to_head()
    assert _schema(engine) == schema
    assert _diff(engine) == []
