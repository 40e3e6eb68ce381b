"""supervision of co-handling parts; cancelled extensions (issue 8)

Revision ID: c6_assist_supervision
Revises: c5_time_limits
Create Date: 2026-12-02

Extension requests gain the status `cancelled` and co-handling parts the status `closed`: both are
stored as plain strings, so only the new columns of assist_task need a change. Parts created before
this revision have no sign-for deadline or warning time: they get only the red (overdue) warning.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dispatch.db

revision: str = "c6_assist_supervision"
down_revision: str | None = "c5_time_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assist_task", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sign_deadline_at", dispatch.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("warn_at", dispatch.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sign_warned", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(
            sa.Column(
                "warning_level",
                sa.Enum(
                    "none", "yellow", "red", "escalated", name="warninglevel", native_enum=False, length=32
                ),
                server_default="none",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("close_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_assist_task_sign_deadline_at"), ["sign_deadline_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_assist_task_warn_at"), ["warn_at"], unique=False)


def downgrade() -> None:
    # The older code knows neither status: a closed part reads as done, a cancelled request as refused.
    op.execute("UPDATE assist_task SET status = 'done' WHERE status = 'closed'")
    op.execute("UPDATE extension_request SET status = 'refused' WHERE status = 'cancelled'")
    with op.batch_alter_table("assist_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assist_task_warn_at"))
        batch_op.drop_index(batch_op.f("ix_assist_task_sign_deadline_at"))
        batch_op.drop_column("close_reason")
        batch_op.drop_column("warning_level")
        batch_op.drop_column("sign_warned")
        batch_op.drop_column("warn_at")
        batch_op.drop_column("sign_deadline_at")
