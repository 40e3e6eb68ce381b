"""督办 by the scheduler's pass: each warning logged once, however often or concurrently the pass runs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from redis import Redis
from sqlmodel import Session, func, select

from dispatch import clock
from dispatch.tickets.models import Action, Ticket, TicketLog, WarningLevel
from dispatch.tickets.side_models import Notice
from dispatch.tickets.supervision import supervise
from dispatch.tickets.tasks import route_tickets
from dispatch.worktime import add_working_minutes
from tests.helpers import grids_in, inside, patrol


def at(moment: datetime) -> None:
    clock.set_clock(lambda: moment)


def logged(session: Session, ticket_id: int, action: Action) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(TicketLog)
            .where(TicketLog.ticket_id == ticket_id, TicketLog.action == action)
        ).one()
    )


def dispatched_ticket(session: Session) -> Ticket:
    lon, lat = inside(grids_in("140213050")[0])
    ticket = patrol(session, lon=lon, lat=lat, category="06010")  # 暴露垃圾: 4 working hours
    route_tickets([ticket.id or 0])
    session.expire_all()
    fresh = session.get(Ticket, ticket.id)
    assert fresh is not None and fresh.deadline_at and fresh.warn_at and fresh.sign_deadline_at
    return fresh


def test_warnings_escalate_once_each(session: Session, redis_db: Redis) -> None:
    ticket = dispatched_ticket(session)
    assert ticket.dispatched_at is not None and ticket.deadline_at is not None
    assert ticket.sign_deadline_at == add_working_minutes(ticket.dispatched_at, 120)
    assert ticket.warn_at == add_working_minutes(ticket.dispatched_at, int(240 * 0.8))

    at(ticket.sign_deadline_at + timedelta(minutes=1))  # type: ignore[operator]
    assert supervise()["sign"] == 1
    at(ticket.warn_at + timedelta(minutes=1))  # type: ignore[operator]
    assert supervise() == {"sign": 0, "yellow": 1, "red": 0, "escalated": 0}
    assert supervise() == {"sign": 0, "yellow": 0, "red": 0, "escalated": 0}  # not again
    at(ticket.deadline_at + timedelta(minutes=1))
    assert supervise()["red"] == 1
    assert supervise()["red"] == 0
    at(add_working_minutes(ticket.deadline_at, 4 * 60 + 1))
    assert supervise()["escalated"] == 1
    assert supervise()["escalated"] == 0

    session.expire_all()
    final = session.get(Ticket, ticket.id)
    assert final is not None and final.warning_level is WarningLevel.ESCALATED
    assert final.escalation_level.value == "community"
    for action in (Action.WARN_SIGN, Action.WARN_YELLOW, Action.WARN_RED, Action.ESCALATE):
        assert logged(session, ticket.id or 0, action) == 1, action
    notices = session.exec(select(Notice).where(Notice.ticket_id == ticket.id)).all()
    assert [(n.kind, n.acknowledged_at) for n in notices] == [("auto", None)]  # automatic 催办 on red


def test_concurrent_passes_do_not_double_warn(session: Session, redis_db: Redis) -> None:
    tickets = [dispatched_ticket(session) for _ in range(3)]
    at(max(t.deadline_at for t in tickets if t.deadline_at) + timedelta(minutes=1))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            supervise()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    for ticket in tickets:
        assert logged(session, ticket.id or 0, Action.WARN_RED) == 1


def test_signed_ticket_gets_no_sign_warning_and_extension_clears_red(
    session: Session, redis_db: Redis, run_worker: Callable[[], None]
) -> None:
    from dispatch.tickets.side_moves import decide_extension, request_extension
    from dispatch.tickets.workflow import sign
    from tests.helpers import user

    ticket = dispatched_ticket(session)
    sign(session, ticket=ticket, by=user(session, "cg1"))
    session.commit()
    at(ticket.deadline_at + timedelta(minutes=1))  # type: ignore[operator]
    assert supervise() == {"sign": 0, "yellow": 0, "red": 1, "escalated": 0}
    session.expire_all()
    ticket = session.get(Ticket, ticket.id)  # type: ignore[assignment]
    later = clock.now() + timedelta(days=3)
    request = request_extension(
        session, ticket=ticket, by=user(session, "cg1"), new_deadline_at=later, reason="需协调"
    )
    decide_extension(
        session, ticket=ticket, by=user(session, "shiftlead"), request_id=request.id or 0, approve=True
    )
    session.commit()
    assert ticket.warning_level is WarningLevel.NONE and ticket.deadline_at == later
