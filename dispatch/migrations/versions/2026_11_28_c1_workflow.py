"""closed-loop workflow (issue 3)

Revision ID: c1_workflow
Revises: 93786e63c473
Create Date: 2026-11-28
"""

from collections.abc import Sequence

revision: str = "c1_workflow"
down_revision: str | None = "93786e63c473"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
