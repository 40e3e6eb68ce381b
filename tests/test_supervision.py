"""督办 by the scheduler's pass: each warning logged once, however often or concurrently the pass runs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from redis import Redis
from sqlmodel import Session, func, select

from dispatch import clock
from dispatch.tickets.models import Action, Ticket, TicketLog, TicketState, WarningLevel
from dispatch.tickets.side_models import AssistTask, Notice
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


ASSIST_KEYS = ("assist_sign", "assist_yellow", "assist_red")
OTHER_KEYS = (*ASSIST_KEYS, "verification")  # nothing of those here


def ticket_counts() -> dict[str, int]:
    counts = supervise()
    return {key: counts[key] for key in ("sign", "yellow", "red", "escalated")}


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
    assert ticket_counts() == {"sign": 0, "yellow": 1, "red": 0, "escalated": 0}
    assert ticket_counts() == {"sign": 0, "yellow": 0, "red": 0, "escalated": 0}  # not again
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
    assert supervise() == {"sign": 0, "yellow": 0, "red": 1, "escalated": 0, **dict.fromkeys(OTHER_KEYS, 0)}
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


def with_part(session: Session, ticket: Ticket, department: str = "zj", working_hours: int = 8) -> AssistTask:
    """A co-handling part on the ticket, due `working_hours` of working time from now."""
    from dispatch.tickets.side_moves import add_assist
    from tests.helpers import user
    from tests.workflow_helpers import department_id

    task = add_assist(
        session,
        ticket=ticket,
        by=user(session, "dispatcher"),
        department_id=department_id(department),
        part="核查工地围挡",
        deadline_at=add_working_minutes(clock.now(), working_hours * 60),
    )
    session.commit()
    assert task.sign_deadline_at and task.warn_at
    return task


def part_counts() -> dict[str, int]:
    counts = supervise()
    return {key: counts[key] for key in ASSIST_KEYS}


def test_part_warnings_are_given_once_each(session: Session, redis_db: Redis) -> None:
    ticket = dispatched_ticket(session)
    task = with_part(session, ticket)
    finished = with_part(session, ticket, department="ga")
    assert task.sign_deadline_at == add_working_minutes(task.created_at, 120)
    # 80 % of the working time from the part's creation to its deadline (set a moment before creation,
    # so a hair under 8 working hours: the warning falls within a second of 6.4 hours on).
    assert task.warn_at is not None
    assert abs(task.warn_at - add_working_minutes(task.created_at, int(480 * 0.8))) < timedelta(seconds=1)
    from dispatch.tickets.side_moves import assist_feedback, assist_sign
    from tests.helpers import user

    ga1 = user(session, "ga1")
    assist_sign(session, ticket=ticket, by=ga1, task_id=finished.id or 0)
    assist_feedback(session, ticket=ticket, by=ga1, task_id=finished.id or 0, text="已疏导")
    session.commit()

    at(task.sign_deadline_at + timedelta(minutes=1))  # type: ignore[operator]
    assert part_counts() == {"assist_sign": 1, "assist_yellow": 0, "assist_red": 0}
    assert part_counts() == {"assist_sign": 0, "assist_yellow": 0, "assist_red": 0}
    at(task.warn_at + timedelta(minutes=1))  # type: ignore[operator]
    assert part_counts() == {"assist_sign": 0, "assist_yellow": 1, "assist_red": 0}
    assert part_counts() == {"assist_sign": 0, "assist_yellow": 0, "assist_red": 0}
    at(task.deadline_at + timedelta(minutes=1))
    assert part_counts() == {"assist_sign": 0, "assist_yellow": 0, "assist_red": 1}
    assert part_counts() == {"assist_sign": 0, "assist_yellow": 0, "assist_red": 0}

    session.expire_all()
    part = session.get(AssistTask, task.id)
    assert part is not None and part.sign_warned and part.warning_level is WarningLevel.RED
    done = session.get(AssistTask, finished.id)
    assert done is not None and not done.sign_warned and done.warning_level is WarningLevel.NONE
    for action in (Action.ASSIST_WARN_SIGN, Action.ASSIST_WARN_YELLOW, Action.ASSIST_WARN_RED):
        rows = session.exec(
            select(TicketLog).where(TicketLog.ticket_id == ticket.id, TicketLog.action == action)
        ).all()
        assert [(r.data["task_id"], r.from_state, r.to_state) for r in rows] == [
            (task.id, TicketState.DISPATCHED, TicketState.DISPATCHED)  # the ticket's state is untouched
        ], action
    notices = session.exec(select(Notice).where(Notice.ticket_id == ticket.id, Notice.kind == "assist")).all()
    assert [(n.department_id, n.acknowledged_at) for n in notices] == [(task.department_id, None)]
    lead_notices = session.exec(
        select(Notice).where(Notice.ticket_id == ticket.id, Notice.kind == "auto")
    ).all()
    assert [n.department_id for n in lead_notices] == [ticket.department_id]  # the ticket's own red


def test_parts_of_a_parked_ticket_are_not_warned(session: Session, redis_db: Redis) -> None:
    from dispatch.tickets.workflow import sign, suspend
    from tests.helpers import user

    ticket = dispatched_ticket(session)
    task = with_part(session, ticket)
    sign(session, ticket=ticket, by=user(session, "cg1"))
    suspend(session, ticket=ticket, by=user(session, "shiftlead"), reason="汛期后施工")
    session.commit()
    at(task.deadline_at + timedelta(minutes=1))
    assert part_counts() == {"assist_sign": 0, "assist_yellow": 0, "assist_red": 0}


def test_concurrent_passes_warn_each_part_once(session: Session, redis_db: Redis) -> None:
    tickets = [dispatched_ticket(session) for _ in range(3)]
    parts = [with_part(session, t, department=d) for t in tickets for d in ("zj", "ga")]
    at(max(p.deadline_at for p in parts) + timedelta(minutes=1))
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []
    totals: list[dict[str, int]] = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            totals.append(part_counts())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert sum(t["assist_red"] for t in totals) == len(parts)
    assert sum(t["assist_sign"] for t in totals) == len(parts)
    for part in parts:
        for action in (Action.ASSIST_WARN_SIGN, Action.ASSIST_WARN_RED):
            rows = session.exec(
                select(TicketLog).where(TicketLog.ticket_id == part.ticket_id, TicketLog.action == action)
            ).all()
            assert [r.data["task_id"] for r in rows].count(part.id) == 1, (part.id, action)
        notices = session.exec(
            select(Notice).where(
                Notice.ticket_id == part.ticket_id, Notice.department_id == part.department_id
            )
        ).all()
        assert [n.kind for n in notices] == ["assist"]
