"""KPIs of the centre, computed from the ticket log (the audit trail is the single source of truth).

Population: tickets created in [date_from, date_to). Each ticket is counted once per grouping key.
Formulas (numerator / denominator; a rate with a zero denominator is None):
- 派遣量 dispatched: tickets with at least one route, dispatch, redispatch or reopen row.
- 响应率 response_rate = tickets with a sign row / dispatched.
- 按时签收率 on_time_sign_rate = tickets whose first sign row was on time / tickets signed.
- 按期处置率 on_time_handling_rate = tickets whose last feedback row was on time / tickets with feedback.
- 结案率 closure_rate = tickets closed (verify_pass or self_resolve) / (dispatched + self-resolved).
- 按期结案率 on_time_closure_rate = tickets whose last verify_pass row was on time, plus self-resolved,
  / tickets closed.
- 回退率 return_rate = tickets with a return row / dispatched.
- 返工率 rework_rate = tickets with a verify_fail row / tickets with feedback.
- 延期率 extension_rate = tickets with an approve_extension row / dispatched.
- 满意率 satisfaction_rate = tickets whose last callback was satisfied or basically satisfied / tickets
  with a callback.
- 重复投诉率 repeat_rate = tickets merged into another (merge row) / all tickets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, func, select

from dispatch.catalog.models import Category, Department
from dispatch.grids.service import names_for
from dispatch.tickets.models import Action, Ticket, TicketLog, TicketState

DISPATCH_ACTIONS = {Action.ROUTE, Action.DISPATCH, Action.REDISPATCH, Action.REOPEN}
SATISFIED = {"satisfied", "basically_satisfied"}


class GroupBy(StrEnum):
    DEPARTMENT = "department"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    CATEGORY = "category"
    DISTRICT = "district"


@dataclass
class Facts:
    """What the log says about one ticket."""

    dispatched: bool = False
    signed: bool = False
    signed_on_time: bool = False
    fed_back: bool = False
    feedback_on_time: bool = False
    closed: bool = False
    closed_on_time: bool = False
    self_resolved: bool = False
    returned: bool = False
    reworked: bool = False
    extended: bool = False
    called_back: bool = False
    satisfied: bool = False
    merged: bool = False


def ticket_facts(entries: Iterable[TicketLog]) -> Facts:
    """Fold one ticket's log rows (oldest first) into the facts the KPIs count."""
    facts = Facts()
    for e in entries:
        on_time = bool(e.data.get("on_time", False))
        if e.action in DISPATCH_ACTIONS:
            facts.dispatched = True
        elif e.action is Action.SIGN and not facts.signed:
            facts.signed, facts.signed_on_time = True, on_time
        elif e.action is Action.FEEDBACK:
            facts.fed_back, facts.feedback_on_time = True, on_time
        elif e.action is Action.VERIFY_PASS:
            facts.closed, facts.closed_on_time = True, on_time
        elif e.action is Action.SELF_RESOLVE:
            facts.closed = facts.closed_on_time = facts.self_resolved = True
        elif e.action is Action.REOPEN:
            facts.closed = False
        elif e.action is Action.RETURN:
            facts.returned = True
        elif e.action is Action.VERIFY_FAIL:
            facts.reworked = True
        elif e.action is Action.APPROVE_EXTENSION:
            facts.extended = True
        elif e.action is Action.CALLBACK:
            facts.called_back, facts.satisfied = True, e.data.get("satisfaction") in SATISFIED
        elif e.action is Action.MERGE:
            facts.merged = True
    return facts


@dataclass
class KpiRow:
    key: str
    name: str
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def rate(self, numerator: str, denominator: str) -> float | None:
        d = self.counts[denominator]
        return round(self.counts[numerator] / d, 4) if d else None

    def as_dict(self) -> dict[str, object]:
        c = self.counts
        closable = c["dispatched"] + c["self_resolved"]
        return {
            "key": self.key,
            "name": self.name,
            "total": c["total"],
            "dispatched": c["dispatched"],
            "closed": c["closed"],
            "response_rate": self.rate("signed", "dispatched"),
            "on_time_sign_rate": self.rate("signed_on_time", "signed"),
            "on_time_handling_rate": self.rate("feedback_on_time", "fed_back"),
            "closure_rate": round(c["closed"] / closable, 4) if closable else None,
            "on_time_closure_rate": self.rate("closed_on_time", "closed"),
            "return_rate": self.rate("returned", "dispatched"),
            "rework_rate": self.rate("reworked", "fed_back"),
            "extension_rate": self.rate("extended", "dispatched"),
            "satisfaction_rate": self.rate("satisfied", "called_back"),
            "repeat_rate": self.rate("merged", "total"),
        }


def _key(ticket: Ticket, group_by: GroupBy) -> str:
    grid = ticket.grid_code or ""
    match group_by:
        case GroupBy.DEPARTMENT:
            return str(ticket.department_id or "")
        case GroupBy.STREET:
            return grid[:9]
        case GroupBy.COMMUNITY:
            return grid[:12]
        case GroupBy.GRID:
            return grid
        case GroupBy.CATEGORY:
            return ticket.category_code
        case GroupBy.DISTRICT:
            return "all"


def compute(
    session: Session, *, group_by: GroupBy, date_from: datetime, date_to: datetime
) -> list[dict[str, object]]:
    """KPI rows for tickets created in [date_from, date_to), one row per group, sorted by key."""
    tickets = session.exec(
        select(Ticket).where(col(Ticket.created_at) >= date_from, col(Ticket.created_at) < date_to)
    ).all()
    by_ticket: dict[int, list[TicketLog]] = defaultdict(list)
    ids = [t.id for t in tickets if t.id is not None]
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        for entry in session.exec(
            select(TicketLog).where(col(TicketLog.ticket_id).in_(chunk)).order_by(col(TicketLog.id))
        ):
            by_ticket[entry.ticket_id].append(entry)
    rows: dict[str, KpiRow] = {}
    for ticket in tickets:
        key = _key(ticket, group_by)
        row = rows.setdefault(key, KpiRow(key=key, name=""))
        facts = ticket_facts(by_ticket[ticket.id or 0])
        row.counts["total"] += 1
        for name, value in vars(facts).items():
            row.counts[name] += int(value)
    _name_rows(session, group_by, rows)
    return [rows[k].as_dict() for k in sorted(rows)]


def _name_rows(session: Session, group_by: GroupBy, rows: dict[str, KpiRow]) -> None:
    if group_by is GroupBy.DEPARTMENT:
        names = {str(i): n for i, n in session.exec(select(Department.id, Department.name))}
    elif group_by is GroupBy.CATEGORY:
        names = dict(session.exec(select(Category.code, Category.name)).all())
    elif group_by is GroupBy.DISTRICT:
        names = {"all": "全区"}
    else:
        names = names_for(session, {k for k in rows if k})
    unnamed = "未派遣" if group_by is GroupBy.DEPARTMENT else "未定位"
    for key, row in rows.items():
        row.name = names.get(key, key or unnamed)


def grid_counts(session: Session, *, date_from: datetime, date_to: datetime) -> list[dict[str, object]]:
    """Tickets per grid created in [date_from, date_to), for heat maps (merged duplicates not counted)."""
    rows = session.exec(
        select(Ticket.grid_code, func.count())
        .where(
            col(Ticket.created_at) >= date_from,
            col(Ticket.created_at) < date_to,
            col(Ticket.grid_code).is_not(None),
            Ticket.state != TicketState.MERGED,
        )
        .group_by(col(Ticket.grid_code))
    ).all()
    return [{"grid_code": code, "count": count} for code, count in sorted(rows, key=lambda r: -r[1])]
