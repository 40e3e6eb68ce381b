"""KPIs of the centre, computed from the ticket log (the audit trail is the single source of truth).

Population: tickets created in [date_from, date_to), as before, each with every fact its log holds, also
those after date_to (a period's figures settle as its tickets are finished). Charging facts to holders
needs no other population: a ticket that changes hands is still one case of the period, and every
department it passed through is measured on cases of that period. (Counting the facts that happened in
the period instead would mix numerators and denominators of different tickets, e.g. a sign in May of a
ticket dispatched in April, and could push rates above 1.)

Attribution: each fact counts for whoever held the ticket when it happened — the department the ticket
was assigned to as of that log row, and the grid it was placed in as of that row (its community and
street are the grid's). The log is replayed oldest first: route, dispatch and redispatch rows change the
department (a return leaves it with the department that returned it until the centre decides; a reopen
and an overrule keep it); route, route_manual and dispatch rows change the grid, and a self-resolve row
places the ticket where it was located in that move. The unit counted is a holding, one (ticket, key)
pair for each department, street, community or grid that held the ticket when at least one fact
happened; a key that held the same ticket twice (returned, then sent back to it) holds it once, so every
rate stays within 0..1. A ticket without any fact (waiting for routing, in the manual queue, rejected
from it) is one holding under its key as of its last row (未派遣; its located grid or 未定位). District
and category do not change hands, so there each ticket is one holding, as before. `total` is the number
of holdings: the tickets a department (street, grid) held.

Centres (grouping `centre`): the centre steering the ticket as of each row — the district centre (key
"", 区指挥中心) until a row hands it to a street centre or community workstation (routed to its queue,
上报, 下派: `centre_id` in the row). Facts count for the centre steering at the time, as for
departments; and a centre whose queue received the ticket holds it even if nothing else happened there
(it escalated it at once, say).

Worked example: a ticket is routed to department A in grid G; A returns it (回退); the centre redispatches
it to B (改派); B signs, feeds back; the centre verifies it (结案); the caller is satisfied at 回访.
  A: total 1, dispatched 1, signed 0, returned 1 → 响应率 0, 回退率 100 %, 结案率 0.
  B: total 1, dispatched 1, signed 1, fed back 1, closed 1, called back 1 → 响应率 100 %, 回退率 0,
     结案率 100 %, 满意率 100 %.
  G (and its community and street), the district: one holding with every fact → 回退率 100 %, 结案率 100 %.
(Grouping by the ticket's department now, A showed nothing and B a 回退率 of 100 %.)

Facts of a holding, each from the rows that happened while that key held the ticket:
- dispatched: a route, dispatch, redispatch or reopen row.
- signed: a sign row; signed on time: the holding's first sign row was on time.
- fed back: a feedback row; on time: the holding's last feedback row was.
- closed: a verify_pass or self_resolve row not undone by a later reopen (回访不满意重办) in the holding;
  on time: its verify_pass row was on time (a self-resolve is).
- returned (return), reworked (verify_fail), extended (approve_extension), merged (merge), self-resolved.
- called back: a callback row; satisfied: the holding's last callback was satisfied or basically satisfied.

Formulas over holdings (numerator / denominator; a rate with a zero denominator is None):
- 派遣量 dispatched.
- 响应率 response_rate = signed / dispatched.
- 按时签收率 on_time_sign_rate = signed on time / signed.
- 按期处置率 on_time_handling_rate = fed back on time / fed back.
- 结案率 closure_rate = closed / (dispatched + self-resolved).
- 按期结案率 on_time_closure_rate = closed on time / closed.
- 回退率 return_rate = returned / dispatched.
- 返工率 rework_rate = reworked / fed back.
- 延期率 extension_rate = extended / dispatched.
- 满意率 satisfaction_rate = satisfied / called back.
- 重复投诉率 repeat_rate = merged / total.

Each level's own part (grouping `centre` only): `escalated` the holdings that 上报'd the ticket (the
centre that handed it up, not the one receiving it), `handed_down` those that 下派'd it, `queued` those
in whose queue (待人工派遣) it waited and left, and `avg_queue_working_hours` = working minutes waited /
queued / 60 (a wait still going on is not counted yet).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, func, select

from dispatch.catalog.models import Category, Department
from dispatch.grids.service import names_for
from dispatch.tickets.models import Action, Ticket, TicketLog, TicketState
from dispatch.worktime import working_minutes_between

DISPATCH_ACTIONS = frozenset({Action.ROUTE, Action.DISPATCH, Action.REDISPATCH, Action.REOPEN})
# The rows a holding's facts come from; any other row (urge, warning, co-handling ...) counts for nobody.
FACT_ACTIONS = DISPATCH_ACTIONS | {
    Action.SIGN,
    Action.FEEDBACK,
    Action.VERIFY_PASS,
    Action.VERIFY_FAIL,
    Action.SELF_RESOLVE,
    Action.RETURN,
    Action.APPROVE_EXTENSION,
    Action.CALLBACK,
    Action.MERGE,
}
# Rows whose `department_id` names the department responsible for the ticket after them. (Co-handling
# and supervision rows carry a `department_id` too: the co-handling department's, not the holder's.)
NAMES_HOLDER = frozenset({Action.ROUTE, Action.DISPATCH, Action.REDISPATCH, Action.RETURN})
# Rows that place the ticket in a grid. A self-resolve row locates the ticket in the same move without
# logging the grid (the ticket's grid now is that one: nothing can move a self-resolved ticket).
PLACES_IN_GRID = frozenset({Action.ROUTE, Action.ROUTE_MANUAL, Action.DISPATCH, Action.SELF_RESOLVE})
# Rows that hand the ticket to a centre (`centre_id`, None for the district centre): routed to a centre's
# queue, 上报 from a centre's queue, 下派. Before any, the district centre steers it.
HANDS_OVER = frozenset({Action.ROUTE_MANUAL, Action.ESCALATE, Action.HAND_DOWN})
SATISFIED = {"satisfied", "basically_satisfied"}


class GroupBy(StrEnum):
    DEPARTMENT = "department"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    CATEGORY = "category"
    DISTRICT = "district"
    CENTRE = "centre"  # the centre that steered the ticket (区指挥中心, a street centre, a workstation)


@dataclass(frozen=True)
class Holder:
    """Who held a ticket as of one log row: its department, the grid it was placed in and the centre
    steering it (None: the district centre)."""

    department_id: int | None
    grid_code: str | None
    centre_id: int | None = None


def holders(ticket: Ticket, entries: Sequence[TicketLog]) -> list[Holder]:
    """Who held the ticket as of each of its log rows (oldest first), i.e. once that row took effect.

    Department: walked back from the ticket's department now. Dispatch, redispatch and return rows name
    it (`department_id`), a redispatch row also the department before it (`from_department_id`), and
    nobody held the ticket before its route or manual dispatch. Route rows do not name the department
    routing chose, so a route row gets the one the next row that names it says held the ticket (a return,
    a redispatch's `from_department_id`), or the ticket's department now.
    Grid: walked forward. Route, route_manual and dispatch rows name it (`grid_code`); a self-resolve
    row, which does not, places the ticket in its grid now.
    """
    departments: list[int | None] = []
    held = ticket.department_id
    for entry in reversed(entries):
        named = entry.data.get("department_id") if entry.action in NAMES_HOLDER else None
        held = named if named is not None else held
        departments.append(held)
        if entry.action is Action.REDISPATCH:
            held = entry.data.get("from_department_id")
        elif entry.action in (Action.ROUTE, Action.DISPATCH):
            held = None
    departments.reverse()
    grids: list[str | None] = []
    centres: list[int | None] = []
    grid: str | None = None
    centre: int | None = None
    for entry in entries:
        if entry.action in PLACES_IN_GRID:
            grid = entry.data.get("grid_code", ticket.grid_code)
        if entry.action in HANDS_OVER and "centre_id" in entry.data:
            centre = entry.data["centre_id"]
        grids.append(grid)
        centres.append(centre)
    return [Holder(d, g, c) for d, g, c in zip(departments, grids, centres, strict=True)]


@dataclass
class Facts:
    """What the log says about one holding (a ticket while one key held it)."""

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
    escalated: bool = False  # 上报 while this key held it (from a centre's queue: to the centre above)
    handed_down: bool = False  # 下派 by this centre to one below
    queued: bool = False  # waited in this key's queue (待人工派遣) and left it
    queue_minutes: int = 0  # working minutes it waited there, all its waits together

    def bits(self) -> int:
        """The facts as one integer (how dispatch.stats.rollup stores them): bit i for the i-th flag,
        the queue minutes from bit QUEUE_SHIFT up."""
        flags = sum(1 << i for i, name in enumerate(FACT_NAMES) if getattr(self, name))
        return flags | self.queue_minutes << QUEUE_SHIFT

    @classmethod
    def from_bits(cls, bits: int) -> Facts:
        flags = {name: bool(bits >> i & 1) for i, name in enumerate(FACT_NAMES)}
        return cls(**flags, queue_minutes=bits >> QUEUE_SHIFT)

    def add(self, entry: TicketLog) -> None:
        """Fold in one more of the holding's rows (rows come oldest first)."""
        on_time = bool(entry.data.get("on_time", False))
        if entry.action in DISPATCH_ACTIONS:
            self.dispatched = True
        if entry.action is Action.SIGN and not self.signed:
            self.signed, self.signed_on_time = True, on_time
        elif entry.action is Action.FEEDBACK:
            self.fed_back, self.feedback_on_time = True, on_time
        elif entry.action is Action.VERIFY_PASS:
            self.closed, self.closed_on_time = True, on_time
        elif entry.action is Action.SELF_RESOLVE:
            self.closed = self.closed_on_time = self.self_resolved = True
        elif entry.action is Action.REOPEN:
            self.closed = self.closed_on_time = False
        elif entry.action is Action.RETURN:
            self.returned = True
        elif entry.action is Action.VERIFY_FAIL:
            self.reworked = True
        elif entry.action is Action.APPROVE_EXTENSION:
            self.extended = True
        elif entry.action is Action.CALLBACK:
            self.called_back, self.satisfied = True, entry.data.get("satisfaction") in SATISFIED
        elif entry.action is Action.MERGE:
            self.merged = True


FACT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Facts) if f.type in ("bool", bool))
QUEUE_SHIFT = 32  # Facts.bits(): the flags below this bit, the queue minutes above


def holding_facts(
    entries: Sequence[TicketLog], keys: Sequence[str], *, idle_key: str, levels: bool = False
) -> dict[str, Facts]:
    """Fold one ticket's log rows (oldest first) into the facts of each holding; row i counts for keys[i].

    With `levels` (the centre grouping) also each level's own part: a hand-over row (上报, 下派) counts
    for the key that held the ticket before it, the one that handed it on; a wait in a queue
    (待人工派遣) counts for the key that held the ticket while it waited, once the wait is over — from the
    row that put it there to the row that took it out (dispatched, rejected, merged, or handed to another
    centre's queue). A ticket none of whose rows is a fact is one holding under `idle_key` (its key as of
    its last row).
    """
    holdings: dict[str, Facts] = {}
    waiting: tuple[TicketLog, str] | None = None  # the row that queued the ticket, and who held it
    for i, (entry, key) in enumerate(zip(entries, keys, strict=True)):
        if entry.action in FACT_ACTIONS:
            holdings.setdefault(key, Facts()).add(entry)
        if not levels:
            continue
        giver = keys[i - 1] if i else key
        if entry.action is Action.ESCALATE:
            holdings.setdefault(giver, Facts()).escalated = True
        elif entry.action is Action.HAND_DOWN:
            holdings.setdefault(giver, Facts()).handed_down = True
        leaves = entry.to_state is not TicketState.MANUAL or entry.action in HANDS_OVER
        if waiting is not None and leaves:
            since, holder = waiting
            facts = holdings.setdefault(holder, Facts())
            facts.queued = True
            facts.queue_minutes += working_minutes_between(since.at, entry.at)
            waiting = None
        if entry.to_state is TicketState.MANUAL and waiting is None:
            waiting = entry, key
    return holdings or {idle_key: Facts()}


@dataclass
class KpiRow:
    key: str
    name: str
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def rate(self, numerator: str, denominator: str) -> float | None:
        d = self.counts[denominator]
        return round(self.counts[numerator] / d, 4) if d else None

    def average_hours(self, minutes: str, count: str) -> float | None:
        n = self.counts[count]
        return round(self.counts[minutes] / n / 60, 2) if n else None

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
            "escalated": c["escalated"],
            "handed_down": c["handed_down"],
            "queued": c["queued"],
            "avg_queue_working_hours": self.average_hours("queue_minutes", "queued"),
        }


def _key(ticket: Ticket, holder: Holder, group_by: GroupBy) -> str:
    grid = holder.grid_code or ""
    match group_by:
        case GroupBy.DEPARTMENT:
            return str(holder.department_id or "")
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
        case GroupBy.CENTRE:
            return str(holder.centre_id or "")


def logs_of(session: Session, ticket_ids: list[int]) -> dict[int, list[TicketLog]]:
    by_ticket: dict[int, list[TicketLog]] = defaultdict(list)
    for start in range(0, len(ticket_ids), 1000):
        chunk = ticket_ids[start : start + 1000]
        for entry in session.exec(
            select(TicketLog).where(col(TicketLog.ticket_id).in_(chunk)).order_by(col(TicketLog.id))
        ):
            by_ticket[entry.ticket_id].append(entry)
    return by_ticket


def ticket_holdings(ticket: Ticket, entries: Sequence[TicketLog], group_by: GroupBy) -> dict[str, Facts]:
    """One ticket's holdings under `group_by`: key → the facts of its rows while that key held it."""
    keys = [_key(ticket, holder, group_by) for holder in holders(ticket, entries)]
    idle = Holder(ticket.department_id, ticket.grid_code, ticket.centre_id)
    idle_key = keys[-1] if keys else _key(ticket, idle, group_by)
    holdings = holding_facts(entries, keys, idle_key=idle_key, levels=group_by is GroupBy.CENTRE)
    if group_by is GroupBy.CENTRE:  # a centre whose queue received the ticket held it, facts or not
        for entry, key in zip(entries, keys, strict=True):
            if entry.action in HANDS_OVER and "centre_id" in entry.data:
                holdings.setdefault(key, Facts())
    return holdings


def count_holdings(rows: dict[str, KpiRow], holdings: dict[str, Facts], sign: int = 1) -> None:
    """Add (sign=-1: take away) one ticket's holdings to the rows' counts."""
    for key, facts in holdings.items():
        row = rows.setdefault(key, KpiRow(key=key, name=""))
        row.counts["total"] += sign
        for name, value in vars(facts).items():
            row.counts[name] += sign * int(value)


def count_from_log(
    session: Session, rows: dict[str, KpiRow], *, group_by: GroupBy, date_from: datetime, date_to: datetime
) -> None:
    """Add the holdings of tickets created in [date_from, date_to), replayed from their log."""
    tickets = session.exec(
        select(Ticket).where(col(Ticket.created_at) >= date_from, col(Ticket.created_at) < date_to)
    ).all()
    by_ticket = logs_of(session, [t.id for t in tickets if t.id is not None])
    for ticket in tickets:
        count_holdings(rows, ticket_holdings(ticket, by_ticket[ticket.id or 0], group_by))


def compute_from_log(
    session: Session, *, group_by: GroupBy, date_from: datetime, date_to: datetime
) -> list[dict[str, object]]:
    """KPI rows for tickets created in [date_from, date_to), one row per group, sorted by key, replayed
    from the log alone (the reference the rollup in dispatch.stats.rollup must agree with).

    Each fact counts for the department (street, community, grid) that held the ticket when it happened;
    the unit is a holding, one per (ticket, key), so `total` is the tickets a key held. Example: routed
    to A, returned by A, redispatched to B, closed by B → A: dispatched 1, returned 1; B: dispatched 1,
    signed 1, closed 1. District and category count each ticket once. The module docstring has the rule.
    """
    rows: dict[str, KpiRow] = {}
    count_from_log(session, rows, group_by=group_by, date_from=date_from, date_to=date_to)
    return named_rows(session, group_by, rows)


def named_rows(session: Session, group_by: GroupBy, rows: dict[str, KpiRow]) -> list[dict[str, object]]:
    """The rows as the API shows them: named, sorted by key, without keys no holding is left in."""
    kept = {key: row for key, row in rows.items() if row.counts["total"]}
    _name_rows(session, group_by, kept)
    return [kept[k].as_dict() for k in sorted(kept)]


def _name_rows(session: Session, group_by: GroupBy, rows: dict[str, KpiRow]) -> None:
    if group_by in (GroupBy.DEPARTMENT, GroupBy.CENTRE):
        names = {str(i): n for i, n in session.exec(select(Department.id, Department.name))}
    elif group_by is GroupBy.CATEGORY:
        names = dict(session.exec(select(Category.code, Category.name)).all())
    elif group_by is GroupBy.DISTRICT:
        names = {"all": "全区"}
    else:
        names = names_for(session, {k for k in rows if k})
    unnamed = {GroupBy.DEPARTMENT: "未派遣", GroupBy.CENTRE: "区指挥中心"}.get(group_by, "未定位")
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
