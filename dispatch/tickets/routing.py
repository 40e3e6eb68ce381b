"""Routing a batch of accepted tickets: locate the grid, match the rule, set the deadline, dispatch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.catalog.rules import RuleBook
from dispatch.gazetteer.matcher import locate_address
from dispatch.grids.locator import GridLocator, GridPlace, current_locator
from dispatch.tickets.centres import CentreBook, into_queue, place_in_grid
from dispatch.tickets.deadlines import limits_read_once, start_clock
from dispatch.tickets.duplicates import suggest as suggest_duplicates
from dispatch.tickets.models import Action, Ticket, TicketState
from dispatch.tickets.service import record


@dataclass(frozen=True)
class Decision:
    """Where a ticket goes: a department and grid, or the manual queue with a reason."""

    department_id: int | None
    grid: GridPlace | None
    rule_id: int | None
    reason: str | None


def decide(ticket: Ticket, places: Sequence[GridPlace], rules: RuleBook) -> Decision:
    """The routing decision for one ticket given the grids covering its position."""
    if ticket.lon is None or ticket.lat is None:
        return Decision(None, None, None, ticket.manual_reason or "无坐标，需人工定位")
    if not places:
        return Decision(None, None, None, "位置不在任何网格内")
    matches = [(place, rules.match(ticket.category_code, place.chain)) for place in places]
    departments = {m.rule.department_id for _, m in matches if m.rule is not None}
    first_place, first = matches[0]
    if first.conflict:
        ids = ", ".join(str(r.id) for r in first.conflict)
        return Decision(None, first_place, None, f"派遣规则冲突（规则 {ids} 同样具体但部门不同）")
    if len(places) > 1 and (len(departments) > 1 or any(m.rule is None for _, m in matches)):
        return Decision(None, first_place, None, "位于多个网格交界处，责任部门不一致")
    if first.rule is None:
        return Decision(None, first_place, None, "无匹配的派遣规则")
    return Decision(first.rule.department_id, first_place, first.rule.id, None)


def route_batch(session: Session, ticket_ids: Sequence[int]) -> dict[str, int]:
    """Route the given tickets that are still waiting; tickets already routed are left alone (idempotent).

    Flushes only; the caller commits. Returns counts of dispatched, manual and skipped tickets.
    """
    tickets = session.exec(
        select(Ticket)
        .where(col(Ticket.id).in_(ticket_ids), Ticket.state == TicketState.NEW)
        .order_by(col(Ticket.id))
    ).all()
    counts = {"dispatched": 0, "manual": 0, "skipped": len(set(ticket_ids)) - len(tickets)}
    if not tickets:
        return counts
    place_by_address(session, tickets)
    locator = current_locator(session)
    rules = RuleBook.load(session)
    centres = CentreBook.load(session)
    places = _locate(locator, tickets)
    # Nothing below reads what the loop changes: flush once at the end (one batched UPDATE) rather
    # than before each query.
    with session.no_autoflush, limits_read_once(session):
        now = clock.now()
        for ticket, ticket_places in zip(tickets, places, strict=True):
            decision = decide(ticket, ticket_places, rules)
            place_in_grid(ticket, decision.grid, locator)
            ticket.routed_at = now
            data: dict[str, object] = {
                "rule_id": decision.rule_id,
                "grid_code": ticket.grid_code,
                "department_id": decision.department_id,
            }
            if (centre := centres.by_id.get(decision.department_id or 0)) is not None:
                # The rule names a street or community centre: its queue, to handle or pass on.
                reason = f"按规则由{centre.name}先行处置"
                into_queue(
                    session,
                    ticket=ticket,
                    centre=centre,
                    locator=locator,
                    action=Action.ROUTE_MANUAL,
                    actor=None,
                    reason=reason,
                    note=reason,
                    data={**data, "department_id": None},
                )
                counts["manual"] += 1
                continue
            if decision.department_id is None:
                ticket.manual_reason = decision.reason
                record(
                    session,
                    ticket=ticket,
                    action=Action.ROUTE_MANUAL,
                    actor=None,
                    note=decision.reason or "",
                    data=data,
                )
                counts["manual"] += 1
                continue
            ticket.department_id = decision.department_id
            limit = start_clock(session, ticket, now)
            note = f"处置时限 {limit.describe()}" if limit else ""
            record(session, ticket=ticket, action=Action.ROUTE, actor=None, note=note, data=data)
            counts["dispatched"] += 1
        suggest_duplicates(session, tickets)
    session.flush()
    return counts


def place_by_address(session: Session, tickets: Sequence[Ticket]) -> None:
    """Give address-only tickets the position of a confident gazetteer match (left unplaced otherwise)."""
    for ticket in tickets:
        if ticket.lon is not None or not ticket.address:
            continue
        match, candidates = locate_address(session, ticket.address)
        if match is not None:
            ticket.lon, ticket.lat = match.lon, match.lat
        elif candidates:
            ticket.manual_reason = f"地址无法唯一定位（{len(candidates)} 个候选）"


def _locate(locator: GridLocator | None, tickets: Sequence[Ticket]) -> list[list[GridPlace]]:
    located = [t for t in tickets if t.lon is not None and t.lat is not None]
    if locator is None or not located:
        return [[] for _ in tickets]
    hits = iter(
        locator.locate_many([(t.lon, t.lat) for t in located if t.lon is not None and t.lat is not None])
    )
    return [next(hits) if t.lon is not None and t.lat is not None else [] for t in tickets]
