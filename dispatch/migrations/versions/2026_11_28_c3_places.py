"""places from other departments' registers (issue 4, item 8)

Revision ID: c3_places
Revises: c2_base_data
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dispatch.db

revision: str = "c3_places"
down_revision: str | None = "c2_base_data"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "place",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("grid_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("imported_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("place", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_place_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_place_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_place_grid_code"), ["grid_code"], unique=False)


def downgrade() -> None:
    op.drop_table("place")
