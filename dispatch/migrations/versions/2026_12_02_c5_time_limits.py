"""time limits per request type x category x urgency (issue 8)

Revision ID: c5_time_limits
Revises: c4_calendar
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c5_time_limits"
down_revision: str | None = "c4_calendar"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "time_limit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "request_type",
            sa.Enum(
                "consult",
                "help",
                "complaint",
                "report",
                "suggestion",
                name="requesttype",
                native_enum=False,
                create_constraint=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("category_code", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column(
            "urgency",
            sa.Enum(
                "normal", "urgent", name="urgency", native_enum=False, create_constraint=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column(
            "unit",
            sa.Enum(
                "working_hours",
                "working_days",
                "hours",
                name="limitunit",
                native_enum=False,
                create_constraint=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_type", "category_code", "urgency"),
    )


def downgrade() -> None:
    op.drop_table("time_limit")
