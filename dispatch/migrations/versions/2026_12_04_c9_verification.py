"""field verification tasks (核实/核查 on the grid officer's phone, 抽查 of 自行处置); KPI facts of each
level: 上报, 下派 and the time waited in a queue (issue 11)

Revision ID: c9_verification
Revises: c8_centres
Create Date: 2026-12-04

Ticket log actions are stored as plain strings, so the new moves need no change. The KPI rollup gains
four counters and is emptied: the scheduler's next refreshes fold the whole log again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dispatch.db

revision: str = "c9_verification"
down_revision: str | None = "c8_centres"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


KPI_COUNTERS = ("escalated", "handed_down", "queued", "queue_minutes")


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def upgrade() -> None:
    op.create_table(
        "verification_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", _enum("intake", "closure", "review", name="verificationkind"), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("centre_id", sa.Integer(), nullable=True),
        sa.Column("grid_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("deadline_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("warned", sa.Boolean(), nullable=False),
        sa.Column("status", _enum("pending", "done", "cancelled", name="verificationstatus"), nullable=False),
        sa.Column(
            "answer",
            _enum(
                "confirmed", "unfounded", "fixed", "not_fixed", "passed", "failed", name="verificationanswer"
            ),
            nullable=True,
        ),
        sa.Column("answer_note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", dispatch.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attachment_ids", sa.JSON(), nullable=False),
        sa.Column("client_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.ForeignKeyConstraint(["officer_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["centre_id"], ["department.id"]),
        sa.ForeignKeyConstraint(["requested_by_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["answered_by_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("ticket_id", "officer_id", "centre_id", "deadline_at", "status"):
        op.create_index(f"ix_verification_task_{column}", "verification_task", [column])
    for counter in KPI_COUNTERS:
        op.add_column("kpi_rollup", sa.Column(counter, sa.Integer(), server_default="0", nullable=False))
    op.execute("DELETE FROM kpi_rollup")
    op.execute("DELETE FROM kpi_ticket")
    op.execute("UPDATE kpi_watermark SET log_id = 0, refreshed_at = NULL")


def downgrade() -> None:
    with op.batch_alter_table("kpi_rollup") as batch_op:
        for counter in KPI_COUNTERS:
            batch_op.drop_column(counter)
    op.drop_table("verification_task")
