"""KPI rollup: counts per day of creation, each ticket's share, the log watermark (issue 10)

Revision ID: c7_kpi_rollup
Revises: c6_assist_supervision
Create Date: 2026-12-04

The tables start empty with the watermark at 0: the first refresh after the upgrade folds in the whole
existing log, a slice at a time; until it has, KPI queries fold the rest in as they read (exact, slower).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dispatch.db

revision: str = "c7_kpi_rollup"
down_revision: str | None = "c6_assist_supervision"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = (
    "total",
    "dispatched",
    "signed",
    "signed_on_time",
    "fed_back",
    "feedback_on_time",
    "closed",
    "closed_on_time",
    "self_resolved",
    "returned",
    "reworked",
    "extended",
    "called_back",
    "satisfied",
    "merged",
)


def upgrade() -> None:
    op.create_table(
        "kpi_rollup",
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS),
        sa.PrimaryKeyConstraint("dimension", "day", "key"),
    )
    op.create_table(
        "kpi_ticket",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("holdings", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("ticket_id"),
    )
    watermark = op.create_table(
        "kpi_watermark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", dispatch.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(watermark, [{"id": 1, "log_id": 0, "refreshed_at": None}])


def downgrade() -> None:
    op.drop_table("kpi_watermark")
    op.drop_table("kpi_ticket")
    op.drop_table("kpi_rollup")
