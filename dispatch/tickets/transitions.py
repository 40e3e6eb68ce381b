"""The one transition table: (state, action) → new state, and who may take each action."""

from __future__ import annotations

from dispatch.auth.models import Role
from dispatch.tickets.models import Action, TicketState

S = TicketState
A = Action

_STAY_SIGNED = (A.REQUEST_EXTENSION, A.APPROVE_EXTENSION, A.REFUSE_EXTENSION)
_PART_WARNINGS = (A.ASSIST_WARN_SIGN, A.ASSIST_WARN_YELLOW, A.ASSIST_WARN_RED)
_WORKING = (S.DISPATCHED, S.SIGNED)
_VERIFIED = (S.MANUAL, S.FEEDBACK, S.CLOSED)
_OPEN = (S.MANUAL, S.DISPATCHED, S.SIGNED, S.RETURNED, S.SUSPENDED, S.FEEDBACK)
# States in which co-handling parts (协办) run; supervision watches them except while parked (挂账).
PART_STATES = (*_WORKING, S.SUSPENDED, S.FEEDBACK)
PART_CLOCK_STATES = (*_WORKING, S.FEEDBACK)

TRANSITIONS: dict[tuple[TicketState | None, Action], TicketState] = {
    (None, A.INTAKE): S.NEW,
    (S.NEW, A.ROUTE): S.DISPATCHED,
    (S.NEW, A.ROUTE_MANUAL): S.MANUAL,
    (S.NEW, A.SELF_RESOLVE): S.CLOSED,
    (S.MANUAL, A.DISPATCH): S.DISPATCHED,
    (S.MANUAL, A.HAND_DOWN): S.MANUAL,  # into the queue of a centre below
    **{(s, A.ASSIGN): s for s in (S.MANUAL, S.DISPATCHED, S.SIGNED, S.SUSPENDED, S.FEEDBACK)},
    # 核实 in a centre's queue, 核查 after 反馈, 抽查 of a closed 自行处置 case (verification.py)
    **{(s, action): s for s in _VERIFIED for action in (A.VERIFY_REQUEST, A.VERIFY_ANSWER, A.VERIFY_WARN)},
    (S.MANUAL, A.REJECT): S.REJECTED,
    (S.RETURNED, A.REJECT): S.REJECTED,
    (S.DISPATCHED, A.REDISPATCH): S.DISPATCHED,
    (S.RETURNED, A.REDISPATCH): S.DISPATCHED,
    (S.RETURNED, A.OVERRULE): S.DISPATCHED,
    (S.DISPATCHED, A.SIGN): S.SIGNED,
    (S.DISPATCHED, A.RETURN): S.RETURNED,
    (S.SIGNED, A.RETURN): S.RETURNED,
    **{(S.SIGNED, action): S.SIGNED for action in _STAY_SIGNED},
    (S.SIGNED, A.SUSPEND): S.SUSPENDED,
    (S.SUSPENDED, A.RESUME): S.SIGNED,
    (S.SIGNED, A.FEEDBACK): S.FEEDBACK,
    (S.FEEDBACK, A.VERIFY_PASS): S.CLOSED,
    (S.FEEDBACK, A.VERIFY_FAIL): S.SIGNED,
    (S.CLOSED, A.CALLBACK): S.CLOSED,
    (S.CLOSED, A.REOPEN): S.DISPATCHED,
    **{(s, A.URGE): s for s in (*_WORKING, S.FEEDBACK)},
    **{(s, A.ACK_URGE): s for s in (*_WORKING, S.SUSPENDED, S.FEEDBACK, S.RETURNED)},
    **{(s, A.ESCALATE): s for s in _OPEN},
    **{(s, A.ADD_ASSIST): s for s in _WORKING},
    **{(s, A.ASSIST_SIGN): s for s in PART_STATES},
    **{(s, A.ASSIST_FEEDBACK): s for s in PART_STATES},
    **{(s, action): s for s in PART_CLOCK_STATES for action in _PART_WARNINGS},
    (S.FEEDBACK, A.ASSIST_CLOSE): S.FEEDBACK,  # taken by 结案 (verify pass) when confirmed
    **{(s, A.MERGE): S.MERGED for s in (S.MANUAL, S.DISPATCHED, S.SIGNED, S.RETURNED)},
    **{(s, A.ABSORB): s for s in _OPEN},
    (S.DISPATCHED, A.WARN_SIGN): S.DISPATCHED,
    **{(s, A.WARN_YELLOW): s for s in _WORKING},
    **{(s, A.WARN_RED): s for s in _WORKING},
}

_CENTRE = frozenset({Role.DISPATCHER, Role.SHIFT_LEAD})
_DEPARTMENT = frozenset({Role.DEPARTMENT})

# Who may take an action; None means only the system (routing, supervision, merging) takes it.
ACTION_ROLES: dict[Action, frozenset[Role] | None] = {
    A.INTAKE: frozenset({Role.GRID_OFFICER, Role.HOTLINE, Role.ADMIN}),
    A.ROUTE: None,
    A.ROUTE_MANUAL: None,
    A.SELF_RESOLVE: frozenset({Role.GRID_OFFICER}),
    A.DISPATCH: _CENTRE,
    A.REDISPATCH: _CENTRE,
    A.OVERRULE: _CENTRE,
    A.REJECT: _CENTRE,
    A.SIGN: _DEPARTMENT,
    A.RETURN: _DEPARTMENT,
    A.REQUEST_EXTENSION: _DEPARTMENT,
    A.APPROVE_EXTENSION: frozenset({Role.SHIFT_LEAD}),
    A.REFUSE_EXTENSION: frozenset({Role.SHIFT_LEAD}),
    A.SUSPEND: frozenset({Role.SHIFT_LEAD}),
    A.RESUME: frozenset({Role.SHIFT_LEAD}),
    A.FEEDBACK: _DEPARTMENT,
    A.VERIFY_PASS: _CENTRE,
    A.VERIFY_FAIL: _CENTRE,
    A.CALLBACK: frozenset({Role.HOTLINE, Role.SHIFT_LEAD}),
    A.REOPEN: frozenset({Role.HOTLINE, Role.SHIFT_LEAD}),
    A.URGE: frozenset({Role.DISPATCHER, Role.SHIFT_LEAD, Role.LEADER}),
    A.ACK_URGE: _DEPARTMENT,
    A.ESCALATE: frozenset({Role.GRID_OFFICER, Role.DEPARTMENT, Role.DISPATCHER, Role.SHIFT_LEAD}),
    A.HAND_DOWN: _CENTRE,
    A.ASSIGN: _CENTRE | _DEPARTMENT,  # within the unit holding it (workflow.assign)
    A.VERIFY_REQUEST: _CENTRE,
    A.VERIFY_ANSWER: frozenset({Role.GRID_OFFICER}) | _CENTRE,  # the task's officer; 抽查: its centre
    A.VERIFY_WARN: None,
    A.ADD_ASSIST: _CENTRE,
    A.ASSIST_SIGN: _DEPARTMENT,
    A.ASSIST_FEEDBACK: _DEPARTMENT,
    A.MERGE: _CENTRE,
    A.ABSORB: None,
    A.WARN_SIGN: None,
    A.WARN_YELLOW: None,
    A.WARN_RED: None,
    A.ASSIST_WARN_SIGN: None,
    A.ASSIST_WARN_YELLOW: None,
    A.ASSIST_WARN_RED: None,
    A.ASSIST_CLOSE: None,  # part of 结案 (verify), never a move of its own
}

# Actions a department takes on its own ticket (the ticket's department must be the actor's).
OWN_DEPARTMENT_ACTIONS = frozenset({A.SIGN, A.RETURN, A.REQUEST_EXTENSION, A.FEEDBACK, A.ACK_URGE})


def allowed_actions(state: TicketState | None, role: Role | None = None) -> list[Action]:
    """Actions the table allows from a state (for a role, if given; system-only actions excluded then)."""
    actions = [action for (source, action) in TRANSITIONS if source == state]
    if role is None:
        return actions
    return [a for a in actions if (roles := ACTION_ROLES[a]) is not None and role in roles]
