"""closed-loop workflow (issue 3): ticket clocks and counters, reporters, extensions, co-handling,
notices and duplicate suggestions

Revision ID: c1_workflow
Revises: 93786e63c473
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dispatch.db

revision: str = "c1_workflow"
down_revision: str | None = "93786e63c473"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assist_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("part", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("deadline_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "signed", "done", name="assiststatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("feedback_text", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", dispatch.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("assist_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assist_task_department_id"), ["department_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_assist_task_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "duplicate_suggestion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("same_caller", sa.Boolean(), nullable=False),
        sa.Column("created_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["ticket.id"],
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("duplicate_suggestion", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duplicate_suggestion_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "extension_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("old_deadline_at", dispatch.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("new_deadline_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "approved", "refused", name="requeststatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", dispatch.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("extension_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_extension_request_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", dispatch.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "ticket_reporter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("caller_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("caller_phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("reported_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event.id"],
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ticket_reporter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_reporter_ticket_id"), ["ticket_id"], unique=False)

    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispatched_at", dispatch.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("sign_deadline_at", dispatch.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("signed_at", dispatch.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("warn_at", dispatch.db.UTCDateTime(timezone=True), nullable=True))
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
        batch_op.add_column(sa.Column("sign_warned", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("suspended_at", dispatch.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "escalation_level",
                sa.Enum(
                    "grid",
                    "community",
                    "street",
                    "district",
                    name="escalationlevel",
                    native_enum=False,
                    length=32,
                ),
                server_default="grid",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("feedback_text", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True)
        )
        batch_op.add_column(sa.Column("closed_at", dispatch.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "satisfaction",
                sa.Enum(
                    "satisfied",
                    "basically_satisfied",
                    "unsatisfied",
                    name="satisfaction",
                    native_enum=False,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("repeat_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("rework_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("return_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("reject_reason", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_ticket_sign_deadline_at"), ["sign_deadline_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ticket_warn_at"), ["warn_at"], unique=False)
        batch_op.create_foreign_key("fk_ticket_merged_into_id_ticket", "ticket", ["merged_into_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        # WARNING: constraint name is None; this directive will fail as
        # rendered.  Add a name, or use a naming convention; see
        # https://alembic.sqlalchemy.org/en/latest/naming.html
        batch_op.drop_constraint("fk_ticket_merged_into_id_ticket", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_ticket_warn_at"))
        batch_op.drop_index(batch_op.f("ix_ticket_sign_deadline_at"))
        batch_op.drop_column("reject_reason")
        batch_op.drop_column("return_count")
        batch_op.drop_column("rework_count")
        batch_op.drop_column("repeat_count")
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("satisfaction")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("feedback_text")
        batch_op.drop_column("escalation_level")
        batch_op.drop_column("suspended_at")
        batch_op.drop_column("sign_warned")
        batch_op.drop_column("warning_level")
        batch_op.drop_column("warn_at")
        batch_op.drop_column("signed_at")
        batch_op.drop_column("sign_deadline_at")
        batch_op.drop_column("dispatched_at")

    with op.batch_alter_table("ticket_reporter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_reporter_ticket_id"))

    op.drop_table("ticket_reporter")
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_ticket_id"))

    op.drop_table("notice")
    with op.batch_alter_table("extension_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_extension_request_ticket_id"))

    op.drop_table("extension_request")
    with op.batch_alter_table("duplicate_suggestion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_suggestion_ticket_id"))

    op.drop_table("duplicate_suggestion")
    with op.batch_alter_table("assist_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assist_task_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_assist_task_department_id"))

    op.drop_table("assist_task")
