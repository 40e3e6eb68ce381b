"""time limits per request type x category x urgency (issue 8)

Revision ID: c5_time_limits
Revises: c4_calendar
Create Date: 2026-12-02
"""

from collections.abc import Sequence

revision: str = "c5_time_limits"
down_revision: str | None = "c4_calendar"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
