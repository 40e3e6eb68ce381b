"""The life of each ticket of a demo month, move by move, through the product's own functions.

`Play` keeps a queue of what happens next (ordered by time). Each handler takes one move as the person
who would take it — the officer, the hotline, a department's staff, a centre's dispatcher, the shift
lead — with the clock set to that moment, and schedules the next move by the unit's pace. A handler
whose ticket has moved on (merged, returned, reopened: its `epoch` changed) does nothing."""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from dispatch.auth.models import User
from dispatch.db import new_session
from dispatch.demo.history_arrivals import FEEDBACK_TEXTS, RETURN_REASONS, URGE_TEXTS, Arrival
from dispatch.demo.history_cast import Case, Cast, SimClock
from dispatch.demo.history_queues import community_queue, district_queue, street_queue
from dispatch.errors import DispatchError
from dispatch.events.models import Source
from dispatch.events.photos import Photo
from dispatch.events.schemas import HotlineIntake, PatrolIntake
from dispatch.events.service import accept_hotline, accept_patrol
from dispatch.grids.models import AreaLevel
from dispatch.tickets import verification, workflow
from dispatch.tickets.models import Action, Satisfaction, Ticket, TicketState
from dispatch.tickets.routing import route_batch
from dispatch.tickets.service import savepoint
from dispatch.tickets.side_models import (
    Notice,
    VerificationAnswer,
    VerificationKind,
    VerificationStatus,
    VerificationTask,
)
from dispatch.tickets.side_moves import ack_urge, decide_extension, merge, request_extension, urge
from dispatch.tickets.transitions import TRANSITIONS
from dispatch.tickets.verification import WAITS_IN
from dispatch.worktime import add_working_time, minutes_per_working_day, working_time_between

S = TicketState
V = VerificationAnswer
ANY_EPOCH = -1  # an event that checks the ticket's state itself, whatever moved it since

MERGEABLE = (S.MANUAL, S.DISPATCHED, S.SIGNED, S.RETURNED)


class Play:
    """The queue of moves and their handlers; `run_until` plays them in time order in one transaction."""

    def __init__(
        self, cast: Cast, rng: random.Random, sim: SimClock, arrivals: list[Arrival], photos: list[Photo]
    ) -> None:
        self.cast, self.rng, self.sim, self.photos = cast, rng, sim, photos
        self.arrivals = arrivals
        self.cases: dict[int, Case] = {}
        self.ticket_of_arrival: dict[int, int] = {}
        self.refused: Counter[str] = Counter()
        self.moves = 0
        self._due: list[tuple[datetime, int, str, int, int, int]] = []
        self._seq = 0
        self._last_notice = 0
        self._session: Session | None = None
        for arrival in arrivals:
            self._push(arrival.at, "arrive", arrival.number, ANY_EPOCH, 0)

    # ---- the queue -------------------------------------------------------------------------------

    def _push(self, at: datetime, kind: str, key: int, epoch: int, arg: int) -> None:
        self._seq += 1
        heapq.heappush(self._due, (at, self._seq, kind, key, epoch, arg))

    def schedule(
        self, kind: str, ticket: Ticket, at: datetime, *, arg: int = 0, any_epoch: bool = False
    ) -> None:
        case = self.cases[ticket.id or 0]
        at = max(at, self.sim.at + timedelta(seconds=30))
        self._push(at, kind, ticket.id or 0, ANY_EPOCH if any_epoch else case.epoch, arg)

    def run_until(self, until: datetime) -> None:
        """Play every move due before `until` (and those they cause before it) in one transaction."""
        if not self._due or self._due[0][0] >= until:
            return
        with new_session() as session:
            self._session = session
            while self._due and self._due[0][0] < until:
                at, _, kind, key, epoch, arg = heapq.heappop(self._due)
                self.sim.at = max(at, self.sim.at)
                self._handle(kind, key, epoch, arg)
            session.commit()
            self._session = None

    def schedule_acks(self, session: Session) -> None:
        """Departments acknowledge new 督办/催办 notices (the automatic ones too) at their pace."""
        notices = session.exec(select(Notice).where(col(Notice.id) > self._last_notice)).all()
        self._last_notice = max((n.id or 0 for n in notices), default=self._last_notice)
        # Supervision creates a pass's notices in the order its queries return tickets, which differs
        # between databases: draw for them in an order of their own, so a seed repeats everywhere.
        for notice in sorted(notices, key=lambda n: (n.created_at, n.ticket_id, n.kind)):
            pace = self.cast.pace(notice.department_id)
            if notice.ticket_id in self.cases and self.rng.random() < pace.ack_share:
                at = self._after(notice.created_at, self.rng.uniform(*pace.ack_hours))
                self._push(max(at, self.sim.at), "ack", notice.id or 0, ANY_EPOCH, 0)

    @property
    def session(self) -> Session:
        assert self._session is not None
        return self._session

    def _handle(self, kind: str, key: int, epoch: int, arg: int) -> None:
        if kind == "arrive":
            self._guarded(kind, lambda: self._arrive(self.arrivals[key]))
            return
        if kind == "ack":
            self._guarded(kind, lambda: self._ack(key))
            return
        ticket = self.session.get(Ticket, key)
        case = self.cases.get(key)
        if ticket is None or case is None or (epoch != ANY_EPOCH and epoch != case.epoch):
            return
        handler = getattr(self, f"_{kind}")
        self._guarded(kind, lambda: handler(ticket, case, arg))

    def _guarded(self, kind: str, move: Callable[[], object]) -> None:
        try:
            with savepoint(self.session):
                move()
            self.moves += 1
        except DispatchError as refused:
            self.refused[f"{kind}: {refused}"] += 1

    # ---- time ------------------------------------------------------------------------------------

    def _after(self, start: datetime, working_hours: float) -> datetime:
        return add_working_time(start, timedelta(hours=working_hours)) + timedelta(
            seconds=self.rng.uniform(5, 120)
        )

    def later(self, low: float, high: float) -> datetime:
        """Between `low` and `high` working hours from now."""
        return self._after(self.sim.at, self.rng.uniform(low, high))

    def into_limit(self, ticket: Ticket, share: float) -> datetime:
        """The moment `share` of the ticket's handling limit (working time from dispatch) has passed."""
        start = ticket.dispatched_at or self.sim.at
        if ticket.deadline_at is None:
            return self._after(start, 16 * share)
        span = working_time_between(start, ticket.deadline_at)
        if not span:  # a limit in natural hours, outside office hours
            return start + (ticket.deadline_at - start) * share
        return add_working_time(start, span * share)

    # ---- people ----------------------------------------------------------------------------------

    def staff_of(self, department_id: int | None, ticket: Ticket | None = None) -> User:
        people = self.cast.staff[department_id or 0]
        if ticket is not None and ticket.assignee_id is not None:
            for person in people:
                if person.id == ticket.assignee_id:
                    return person
        return self.rng.choice(people)

    def centre_actor(self, ticket: Ticket) -> User:
        """The dispatcher of the centre holding the ticket (the district's for the district centre)."""
        return self.cast.centre_dispatcher.get(ticket.centre_id or 0, self.cast.dispatcher)

    def photo(self) -> Photo:
        return self.rng.choice(self.photos)

    # ---- intake and routing ----------------------------------------------------------------------

    def _arrive(self, a: Arrival) -> None:
        session = self.session
        officer = self.cast.officer_of_grid[a.grid_code]
        if a.source is Source.PATROL:
            report = PatrolIntake(
                lon=a.lon,
                lat=a.lat,
                category_code=a.category_code,
                description=a.description,
                urgency=a.urgency,
                address=a.address,
                self_resolved=a.self_resolved,
            )
            photos = [self.photo()] if a.photo or a.self_resolved else []
            ticket, _ = accept_patrol(session, report=report, photos=photos, by=officer)
        else:
            call = HotlineIntake(
                call_id=f"DEMO{a.at:%Y%m%d}{a.number:05d}",
                caller_name=a.caller_name,
                caller_phone=a.caller_phone,
                lon=a.lon if a.located else None,
                lat=a.lat if a.located else None,
                address=a.address,
                request_type=a.request_type,
                category_code=a.category_code,
                content=a.description,
                urgency=a.urgency,
            )
            ticket, _ = accept_hotline(session, call=call, by=self.cast.hotline)
        case = Case(a)
        self.cases[ticket.id or 0] = case
        self.ticket_of_arrival[a.number] = ticket.id or 0
        if a.self_resolved:
            workflow.self_resolve(session, ticket=ticket, by=officer, text="已现场处置完毕，拍照留存")
            if task := verification.waiting(session, ticket.id or 0, VerificationKind.REVIEW):
                self.schedule("review", ticket, self.later(1, 12), arg=task.id or 0, any_epoch=True)
            return
        self.sim.at += timedelta(seconds=self.rng.uniform(1, 6))  # a routing job picks it up
        route_batch(session, [ticket.id or 0])
        self.routed(ticket, case)
        if a.repeat_of is not None and (original := self.ticket_of_arrival.get(a.repeat_of)):
            self.schedule("merge", ticket, self.later(0.2, 2.5), arg=original, any_epoch=True)

    def routed(self, ticket: Ticket, case: Case) -> None:
        """Whoever has the ticket now takes it up: a department signs (or returns), a centre decides."""
        case.epoch += 1
        if ticket.state is S.DISPATCHED:
            pace = self.cast.pace(ticket.department_id)
            hours = self.rng.uniform(*pace.sign_hours)
            own = ticket.department_id is not None and ticket.department_id == ticket.centre_id
            if not own and not case.returns and self.rng.random() < pace.return_share:
                self.schedule("return", ticket, self.later(hours * 0.5, hours))
            else:
                self.schedule("sign", ticket, self._after(self.sim.at, hours))
        elif ticket.state is S.MANUAL:
            centre = self.cast.departments.get(ticket.centre_id or 0)
            level = self.cast.level.get(centre.area_code or "") if centre else None
            low, high = {None: (0.05, 1.0), AreaLevel.STREET: (0.3, 4.0)}.get(level, (0.3, 6.0))
            self.schedule("queue", ticket, self.later(low, high))

    def _merge(self, ticket: Ticket, case: Case, into_id: int) -> None:
        into = self.session.get(Ticket, into_id)
        if into is None or ticket.state not in MERGEABLE or (into.state, Action.ABSORB) not in TRANSITIONS:
            return
        merge(self.session, duplicate=ticket, into=into, by=self.cast.dispatcher, confirm=True)

    # ---- centres' queues -------------------------------------------------------------------------

    def _queue(self, ticket: Ticket, case: Case, _: int) -> None:
        if ticket.state is not S.MANUAL:
            return
        centre = self.cast.departments.get(ticket.centre_id or 0)
        if centre is None:
            district_queue(self, ticket, case)
        elif self.cast.level.get(centre.area_code or "") is AreaLevel.COMMUNITY:
            community_queue(self, ticket, case)
        else:
            street_queue(self, ticket, case)

    def dispatch_to(self, ticket: Ticket, case: Case, by: User, department_id: int, **extra: str) -> None:
        workflow.dispatch_manual(self.session, ticket=ticket, by=by, department_id=department_id, **extra)
        self.routed(ticket, case)

    def field_check(self, ticket: Ticket, by: User, note: str) -> bool:
        """Send a 核实/核查 to the grid's officer on duty when one can go; True if it went."""
        if not verification.can_request(self.session, ticket):
            return False
        task = verification.request(self.session, ticket=ticket, by=by, note=note)
        self.schedule("answer", ticket, self.officer_time(), arg=task.id or 0, any_epoch=True)
        return True

    # ---- the department's work -------------------------------------------------------------------

    def _sign(self, ticket: Ticket, case: Case, _: int) -> None:
        if ticket.state is not S.DISPATCHED:
            return
        staff = self.staff_of(ticket.department_id)
        workflow.sign(self.session, ticket=ticket, by=staff)
        colleagues = [p for p in self.cast.staff[ticket.department_id or 0] if p.id != staff.id]
        if colleagues and self.rng.random() < 0.2:
            other = self.rng.choice(colleagues)
            workflow.assign(self.session, ticket=ticket, by=staff, user_id=other.id or 0)
        self.plan_handling(ticket, case)

    def plan_handling(self, ticket: Ticket, case: Case) -> None:
        pace, r = self.cast.pace(ticket.department_id), self.rng.random()
        if not case.extensions and r < pace.extension_share:
            self.schedule("extension", ticket, self.into_limit(ticket, self.rng.uniform(0.5, 0.85)))
        elif r > 0.985 and ticket.category_code[:2] in ("20", "22", "24"):
            self.schedule("suspend", ticket, self.later(1, 6))
        else:
            self.schedule("feedback", ticket, self.into_limit(ticket, self.rng.uniform(*pace.handling_share)))
        if self.rng.random() < 0.1:
            self.schedule("urge", ticket, self.into_limit(ticket, self.rng.uniform(0.5, 0.9)), any_epoch=True)

    def _return(self, ticket: Ticket, case: Case, _: int) -> None:
        if ticket.state not in (S.DISPATCHED, S.SIGNED):
            return
        staff = self.staff_of(ticket.department_id)
        workflow.return_ticket(self.session, ticket=ticket, by=staff, reason=self.rng.choice(RETURN_REASONS))
        case.returns += 1
        case.epoch += 1
        self.schedule("decide_return", ticket, self.later(0.2, 3))

    def _decide_return(self, ticket: Ticket, case: Case, _: int) -> None:
        if ticket.state is not S.RETURNED:
            return
        by = self.centre_actor(ticket)
        if self.rng.random() < 0.6:
            target = self.cast.alternative(ticket.department_id, ticket.category_code, ticket.street_code)
            workflow.redispatch(
                self.session, ticket=ticket, by=by, department_id=target.id or 0, note="经研判改派"
            )
        else:
            workflow.overrule(self.session, ticket=ticket, by=by, note="经研判属贵单位职责，请继续办理")
        self.routed(ticket, case)

    def _extension(self, ticket: Ticket, case: Case, _: int) -> None:
        if ticket.state is not S.SIGNED:
            return
        days = self.rng.randint(2, 5) * minutes_per_working_day()
        base = max(ticket.deadline_at or self.sim.at, self.sim.at)
        new_deadline = add_working_time(base, timedelta(minutes=days))
        request = request_extension(
            self.session,
            ticket=ticket,
            by=self.staff_of(ticket.department_id, ticket),
            new_deadline_at=new_deadline,
            reason="需协调多方、等待材料，申请延期办理",
        )
        case.extensions += 1
        self.schedule("decide_extension", ticket, self.later(0.3, 4), arg=request.id or 0)

    def _decide_extension(self, ticket: Ticket, case: Case, request_id: int) -> None:
        if ticket.state is not S.SIGNED:
            return
        approve = self.rng.random() < 0.75
        note = "同意延期" if approve else "理由不充分，请按原期限办理"
        decide_extension(
            self.session,
            ticket=ticket,
            by=self.cast.shift_lead,
            request_id=request_id,
            approve=approve,
            note=note,
        )
        if approve and ticket.deadline_at is not None:
            span = ticket.deadline_at - self.sim.at
            self.schedule("feedback", ticket, self.sim.at + span * self.rng.uniform(0.3, 1.05))
        else:
            self.schedule("feedback", ticket, self.later(0.5, 8))

    def _suspend(self, ticket: Ticket, case: Case, _: int) -> None:
        if ticket.state is not S.SIGNED:
            return
        reason = "涉及产权争议，需协调相关单位，暂时挂账"
        workflow.suspend(self.session, ticket=ticket, by=self.cast.shift_lead, reason=reason)
        self.schedule("resume", ticket, self.later(8, 40))

    def _resume(self, ticket: Ticket, case: Case, _: int) -> None:
        if ticket.state is not S.SUSPENDED:
            return
        workflow.resume(self.session, ticket=ticket, by=self.cast.shift_lead, note="协调完毕，恢复办理")
        case.epoch += 1
        self.schedule("feedback", ticket, self.later(2, 16))

    def _urge(self, ticket: Ticket, case: Case, _: int) -> None:
        if ticket.state not in (S.DISPATCHED, S.SIGNED):
            return
        by = self.rng.choice((self.cast.leader, self.cast.dispatcher))
        urge(self.session, ticket=ticket, by=by, message=self.rng.choice(URGE_TEXTS))

    def _ack(self, notice_id: int) -> None:
        notice = self.session.get(Notice, notice_id)
        if notice is None or notice.acknowledged_at is not None:
            return
        ticket = self.session.get(Ticket, notice.ticket_id)
        if ticket is None or (ticket.state, Action.ACK_URGE) not in TRANSITIONS:
            return
        addressee = workflow.notice_addressee(ticket, notice)
        if addressee not in self.cast.staff:
            return
        ack_urge(self.session, ticket=ticket, by=self.staff_of(addressee, ticket), notice_id=notice_id)

    def _feedback(self, ticket: Ticket, case: Case, _: int) -> None:
        if ticket.state is not S.SIGNED:
            return
        photos = [self.photo()] if self.rng.random() < 0.6 else []
        workflow.feedback(
            self.session,
            ticket=ticket,
            by=self.staff_of(ticket.department_id, ticket),
            text=self.rng.choice(FEEDBACK_TEXTS),
            photos=photos,
        )
        task = verification.waiting(self.session, ticket.id or 0, VerificationKind.CLOSURE)
        if task is not None:  # a category that needs the officer's 核查: it went out by itself
            self.schedule("answer", ticket, self.officer_time(), arg=task.id or 0, any_epoch=True)
        else:
            self.schedule("check", ticket, self.later(0.2, 3))

    # ---- checks, closing, 回访 --------------------------------------------------------------------

    def _check(self, ticket: Ticket, case: Case, _: int) -> None:
        if ticket.state is not S.FEEDBACK:
            return
        by = self.centre_actor(ticket)
        if self.rng.random() < 0.08 and self.field_check(ticket, by, "请到现场核查整改情况"):
            return
        quality = self.cast.pace(ticket.department_id).quality if not case.reworks else 0.97
        if self.rng.random() < quality:
            workflow.verify(self.session, ticket=ticket, by=by, passed=True, note="核查通过，予以结案")
            self.closed(ticket)
        else:
            workflow.verify(self.session, ticket=ticket, by=by, passed=False, note="整改不到位，请返工")
            self.reworked(ticket, case)

    def reworked(self, ticket: Ticket, case: Case) -> None:
        case.reworks += 1
        case.epoch += 1
        self.schedule("feedback", ticket, self.later(1, 10))

    def closed(self, ticket: Ticket) -> None:
        if ticket.source is Source.HOTLINE and self.rng.random() < 0.9:
            self.schedule("callback", ticket, self.later(1, 16), any_epoch=True)

    def officer_time(self) -> datetime:
        """When the grid officer answers a field check: mostly within the 2 working hours, some late."""
        return self.later(0.3, 1.8) if self.rng.random() < 0.8 else self.later(2.2, 5)

    def _answer(self, ticket: Ticket, case: Case, task_id: int) -> None:
        task = self.session.get(VerificationTask, task_id)
        if task is None or task.status is not VerificationStatus.PENDING or task.officer_id is None:
            return
        if ticket.state is not WAITS_IN[task.kind]:
            return
        officer, r = self.cast.users[task.officer_id], self.rng.random()
        if task.kind is VerificationKind.INTAKE:
            answer, note = (V.CONFIRMED, "情况属实") if r < 0.8 else (V.UNFOUNDED, "现场未发现所反映的问题")
        else:
            good = r < self.cast.pace(ticket.department_id).quality
            answer, note = (V.FIXED, "已整改到位") if good else (V.NOT_FIXED, "现场仍未整改到位")
        verification.answer(
            self.session, task_id=task_id, by=officer, answer=answer, note=note, photos=[self.photo()]
        )
        if answer is V.CONFIRMED:
            case.checked = True
            case.epoch += 1
            self.schedule("queue", ticket, self.later(0.1, 2))
        elif answer is V.NOT_FIXED:
            self.reworked(ticket, case)
        elif ticket.state is S.CLOSED:
            self.closed(ticket)

    def _review(self, ticket: Ticket, case: Case, task_id: int) -> None:
        task = self.session.get(VerificationTask, task_id)
        if task is None or task.status is not VerificationStatus.PENDING or task.centre_id is None:
            return
        by = self.cast.centre_dispatcher[task.centre_id]
        passed = self.rng.random() < 0.85
        verification.answer(
            self.session,
            task_id=task_id,
            by=by,
            answer=V.PASSED if passed else V.FAILED,
            note="" if passed else "照片与现场情况不符，请重新处置",
        )

    def _callback(self, ticket: Ticket, case: Case, _: int) -> None:
        if ticket.state is not S.CLOSED:
            return
        satisfied, r = self.cast.pace(ticket.department_id).satisfied, self.rng.random()
        if r < satisfied:
            satisfaction = Satisfaction.SATISFIED
        elif r < satisfied + (1 - satisfied) * 0.6 or case.reopens >= 2:
            satisfaction = Satisfaction.BASICALLY
        else:
            satisfaction = Satisfaction.UNSATISFIED
        note = {Satisfaction.UNSATISFIED: "问题仍未解决"}.get(satisfaction, "")
        workflow.callback(
            self.session, ticket=ticket, by=self.cast.hotline, satisfaction=satisfaction, note=note
        )
        if satisfaction is Satisfaction.UNSATISFIED:  # reopened (重办) for the same department
            case.reopens += 1
            self.routed(ticket, case)
