"""Random sequences of actions through the state machine keep its invariants (hypothesis).

Invariants after every step: the ticket is in exactly one state; its log replays to that state (each
row starts where the previous one ended); the deadline never moves earlier; a rejected action changes
nothing; a closed ticket accepts only 回访 and 重办.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis
from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.errors import DispatchError
from dispatch.tickets import side_moves, workflow
from dispatch.tickets.models import Action, Satisfaction, Ticket, TicketLog, TicketState
from dispatch.tickets.side_models import ExtensionRequest, Notice, RequestStatus
from dispatch.tickets.tasks import route_tickets
from dispatch.tickets.transitions import TRANSITIONS
from tests.helpers import grids_in, hotline, inside, user
from tests.workflow_helpers import department_id

HUMAN_ACTIONS = [
    "dispatch",
    "redispatch",
    "overrule",
    "reject",
    "sign",
    "return",
    "request_extension",
    "approve_extension",
    "refuse_extension",
    "suspend",
    "resume",
    "feedback",
    "verify_pass",
    "verify_fail",
    "callback_ok",
    "callback_bad",
    "urge",
    "ack_urge",
    "escalate",
]
NATURAL_ACTOR = {
    "dispatch": "dispatcher",
    "redispatch": "dispatcher",
    "overrule": "dispatcher",
    "reject": "dispatcher",
    "sign": "cg1",
    "return": "cg1",
    "request_extension": "cg1",
    "approve_extension": "shiftlead",
    "refuse_extension": "shiftlead",
    "suspend": "shiftlead",
    "resume": "shiftlead",
    "feedback": "cg1",
    "verify_pass": "dispatcher",
    "verify_fail": "dispatcher",
    "callback_ok": "hotline",
    "callback_bad": "hotline",
    "urge": "leader",
    "ack_urge": "cg1",
    "escalate": "dispatcher",
}
ACTORS = sorted(set(NATURAL_ACTOR.values()) | {"ga1", "wgy0001"})


def apply(session: Session, ticket: Ticket, name: str, actor: str) -> None:
    by = user(session, actor)
    t: Any = ticket
    if name == "dispatch":
        workflow.dispatch_manual(session, ticket=t, by=by, department_id=department_id("cg"))
    elif name == "redispatch":
        workflow.redispatch(session, ticket=t, by=by, department_id=department_id("cg"))
    elif name == "overrule":
        workflow.overrule(session, ticket=t, by=by, note="请继续办理")
    elif name == "reject":
        workflow.reject(session, ticket=t, by=by, reason="不属受理范围")
    elif name == "sign":
        workflow.sign(session, ticket=t, by=by)
    elif name == "return":
        workflow.return_ticket(session, ticket=t, by=by, reason="非本部门")
    elif name == "request_extension":
        base = max(ticket.deadline_at or clock.now(), clock.now())
        side_moves.request_extension(
            session, ticket=t, by=by, new_deadline_at=base + timedelta(days=1), reason="协调"
        )
    elif name in ("approve_extension", "refuse_extension"):
        pending = session.exec(
            select(ExtensionRequest.id).where(
                ExtensionRequest.ticket_id == ticket.id, ExtensionRequest.status == RequestStatus.PENDING
            )
        ).first()
        side_moves.decide_extension(
            session,
            ticket=t,
            by=by,
            request_id=pending or 0,
            approve=name == "approve_extension",
            note="意见",
        )
    elif name == "suspend":
        workflow.suspend(session, ticket=t, by=by, reason="长期工程")
    elif name == "resume":
        workflow.resume(session, ticket=t, by=by)
    elif name == "feedback":
        workflow.feedback(session, ticket=t, by=by, text="已办结")
    elif name in ("verify_pass", "verify_fail"):
        workflow.verify(session, ticket=t, by=by, passed=name == "verify_pass", note="核查意见")
    elif name in ("callback_ok", "callback_bad"):
        choice = Satisfaction.SATISFIED if name == "callback_ok" else Satisfaction.UNSATISFIED
        workflow.callback(session, ticket=t, by=by, satisfaction=choice)
    elif name == "urge":
        side_moves.urge(session, ticket=t, by=by, message="请尽快办理")
    elif name == "ack_urge":
        notice = session.exec(
            select(Notice.id).where(Notice.ticket_id == ticket.id, col(Notice.acknowledged_at).is_(None))
        ).first()
        side_moves.ack_urge(session, ticket=t, by=by, notice_id=notice or 0)
    elif name == "escalate":
        side_moves.escalate(session, ticket=t, by=by, note="上报")


def log_of(session: Session, ticket_id: int) -> list[TicketLog]:
    return list(
        session.exec(select(TicketLog).where(TicketLog.ticket_id == ticket_id).order_by(col(TicketLog.id)))
    )


steps = st.lists(
    st.tuples(st.sampled_from(HUMAN_ACTIONS), st.booleans(), st.sampled_from(ACTORS)), min_size=1, max_size=25
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
def test_random_walks_keep_the_invariants(
    session: Session, redis_db: Redis, plan: list[tuple[str, bool, str]]
) -> None:
    lon, lat = inside(grids_in("140213050")[0])
    ticket = hotline(
        session,
        call_id=f"H-{abs(hash(tuple(plan))) % 10**12}",
        lon=lon,
        lat=lat,
        category_code="06010",
        content="垃圾",
    )
    route_tickets([ticket.id or 0])
    session.expire_all()
    ticket_id = ticket.id or 0
    last_deadline = session.get(Ticket, ticket_id).deadline_at  # type: ignore[union-attr]
    for name, natural, other in plan:
        current = session.get(Ticket, ticket_id)
        assert current is not None
        state_before, rows_before = current.state, len(log_of(session, ticket_id))
        try:
            apply(session, current, name, NATURAL_ACTOR[name] if natural else other)
            session.commit()
        except DispatchError:
            session.rollback()
            session.expire_all()
            after = session.get(Ticket, ticket_id)
            assert after is not None and after.state is state_before  # a rejected action changes nothing
            assert len(log_of(session, ticket_id)) == rows_before
        session.expire_all()
        now = session.get(Ticket, ticket_id)
        assert now is not None and isinstance(now.state, TicketState)
        entries = log_of(session, ticket_id)
        assert entries[0].from_state is None
        for before, after in itertools.pairwise(entries):
            assert after.from_state is before.to_state  # the log replays without gaps
            assert TRANSITIONS[(after.from_state, after.action)] is after.to_state
        assert entries[-1].to_state is now.state
        if last_deadline is not None:
            assert now.deadline_at is not None and now.deadline_at >= last_deadline
        last_deadline = now.deadline_at
        if now.state is TicketState.CLOSED:
            closed_actions = {a for (s, a) in TRANSITIONS if s is TicketState.CLOSED}
            assert closed_actions == {Action.CALLBACK, Action.REOPEN}
