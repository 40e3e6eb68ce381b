"""street and community centres (issue 11): a department may be the centre of an area; users of a
centre see its area; tickets know their street, community, steering centre and 承办人

Revision ID: c8_centres
Revises: c7_kpi_rollup
Create Date: 2026-12-04

Existing tickets keep centre_id NULL (the district centre steers them, as before). Their street and
community are filled in from their grid in the grid version they were routed with. The KPI rollup is
emptied: the scheduler's next refreshes fold the whole log again, now with the `centre` grouping.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c8_centres"
down_revision: str | None = "c7_kpi_rollup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN and CREATE INDEX: a batch rebuild of "department", "user" or "ticket" would drop
    # tables other tables' foreign keys point at, which SQLite refuses once rows refer to them.
    op.add_column("department", sa.Column("area_code", sa.String(length=32), nullable=True))
    op.create_index("ix_department_area_code", "department", ["area_code"], unique=True)
    op.add_column("user", sa.Column("area_code", sa.String(length=32), nullable=True))
    op.add_column("ticket", sa.Column("street_code", sa.String(length=32), nullable=True))
    op.add_column("ticket", sa.Column("community_code", sa.String(length=32), nullable=True))
    for column, table, name in (
        ("centre_id", "department", "fk_ticket_centre_id_department"),
        ("assignee_id", "user", "fk_ticket_assignee_id_user"),
    ):
        if op.get_bind().dialect.name == "sqlite":  # a new column may carry its reference inline
            op.execute(f'ALTER TABLE ticket ADD COLUMN {column} INTEGER REFERENCES "{table}" (id)')
        else:
            op.add_column("ticket", sa.Column(column, sa.Integer(), nullable=True))
            op.create_foreign_key(name, "ticket", table, [column], ["id"])
        op.create_index(f"ix_ticket_{column}", "ticket", [column])
    op.create_index("ix_ticket_street_code", "ticket", ["street_code"])
    op.create_index("ix_ticket_community_code", "ticket", ["community_code"])
    # KPIs gain the grouping `centre`: the rollup is folded again from the whole log by the next refresh
    op.execute("DELETE FROM kpi_rollup")
    op.execute("DELETE FROM kpi_ticket")
    op.execute("UPDATE kpi_watermark SET log_id = 0, refreshed_at = NULL")
    # grid → community → street, in the version each ticket was routed with
    op.execute(
        """
        UPDATE ticket SET
          community_code = (SELECT g.parent_code FROM area g
                            WHERE g.version_id = ticket.grid_version_id AND g.code = ticket.grid_code),
          street_code = (SELECT c.parent_code FROM area g JOIN area c
                           ON c.version_id = g.version_id AND c.code = g.parent_code
                         WHERE g.version_id = ticket.grid_version_id AND g.code = ticket.grid_code)
        WHERE grid_code IS NOT NULL
        """
    )


def downgrade() -> None:
    for column, name in (
        ("assignee_id", "fk_ticket_assignee_id_user"),
        ("centre_id", "fk_ticket_centre_id_department"),
    ):
        op.drop_index(f"ix_ticket_{column}", table_name="ticket")
        if op.get_bind().dialect.name != "sqlite":
            op.drop_constraint(name, "ticket", type_="foreignkey")
        _drop_column("ticket", column)
    op.drop_index("ix_ticket_community_code", table_name="ticket")
    op.drop_index("ix_ticket_street_code", table_name="ticket")
    for column in ("community_code", "street_code"):
        _drop_column("ticket", column)
    _drop_column("user", "area_code")
    op.drop_index("ix_department_area_code", table_name="department")
    _drop_column("department", "area_code")


def _drop_column(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    else:
        op.drop_column(table, column)
