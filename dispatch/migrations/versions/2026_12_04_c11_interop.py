"""interoperability (issue 12): service accounts' API keys and their use log, webhook subscriptions,
the outbox with its delivery log, signatures seen (replay protection), and a ticket's limit set by its
sender

Revision ID: c11_interop
Revises: c10_scoring
Create Date: 2026-12-04

Tickets gain the sources `open311` and `city12345`, users the role `service_account`: stored as plain
strings, they need no change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dispatch.db

revision: str = "c11_interop"
down_revision: str | None = "c10_scoring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("secret_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", dispatch.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", dispatch.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("replaced_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prefix"),
    )
    op.create_table(
        "api_key_use",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_key.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_key_use_key_id", "api_key_use", ["key_id"])
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("category_codes", sa.JSON(), nullable=False),
        sa.Column("area_codes", sa.JSON(), nullable=False),
        sa.Column("department_ids", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failures_in_a_row", sa.Integer(), nullable=False),
        sa.Column("paused_at", dispatch.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pause_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "delivered", "failed", name="messagestatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", dispatch.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", dispatch.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", dispatch.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.ForeignKeyConstraint(["subscription_id"], ["webhook_subscription.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("channel", "subscription_id", "ticket_id", "status", "next_attempt_at"):
        op.create_index(f"ix_outbox_message_{column}", "outbox_message", [column])
    op.create_table(
        "delivery_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["outbox_message.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_delivery_attempt_message_id", "delivery_attempt", ["message_id"])
    op.create_table(
        "seen_signature",
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", dispatch.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("signature"),
    )
    op.create_index("ix_seen_signature_at", "seen_signature", ["at"])
    op.add_column(
        "ticket", sa.Column("external_deadline_at", dispatch.db.UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    # A plain DROP COLUMN (no batch rebuild of "ticket": other tables' foreign keys point at it)
    op.drop_column("ticket", "external_deadline_at")
    op.drop_table("seen_signature")
    op.drop_table("delivery_attempt")
    op.drop_table("outbox_message")
    op.drop_table("webhook_subscription")
    op.drop_table("api_key_use")
    op.drop_table("api_key")
