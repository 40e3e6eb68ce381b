"""Alembic environment: the URL comes from Settings, the metadata from dispatch.models."""

from __future__ import annotations

from alembic import context

from dispatch.db import get_engine
from dispatch.models import metadata

config = context.config


def run_migrations() -> None:
    connectable = config.attributes.get("connection") or get_engine()
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations()
