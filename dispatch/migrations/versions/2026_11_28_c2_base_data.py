"""base data platform (issue 4)

Revision ID: c2_base_data
Revises: c1_workflow
Create Date: 2026-11-28
"""

from collections.abc import Sequence

revision: str = "c2_base_data"
down_revision: str | None = "c1_workflow"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
