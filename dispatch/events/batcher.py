"""Group commit for intake: the reports that arrive while the previous group is being committed are
written together, in one transaction with multi-row inserts, and each request is answered only after
that commit.

One committer thread per API process takes every report waiting in its queue (up to
`intake_group_max`), accepts them with `service.accept_many` and commits once. There is no waiting for
a group to fill: a report arriving at a quiet moment is committed at once, alone; under load the
groups grow by themselves while a commit is in flight. If the group's transaction fails (a database
error, or a concurrent post of the same call id from another process), it is rolled back and its
reports are accepted one by one, each in its own transaction, so one bad report never fails its
neighbours. A report refused by validation (unknown category, outside the district) gets its own error;
nothing is written for it.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from dispatch.config import get_settings
from dispatch.db import new_session
from dispatch.events import service
from dispatch.events.service import Report
from dispatch.tickets.models import Ticket, TicketState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """What the client is told once its report is committed."""

    ticket_id: int
    number: str
    state: TicketState
    created: bool

    @classmethod
    def of(cls, ticket: Ticket, created: bool) -> Receipt:
        return cls(ticket.id or 0, ticket.number or "", ticket.state, created)


Pending = tuple[Report, "Future[Receipt]"]


def accept_alone(report: Report) -> Receipt:
    """The per-event path: one report, one transaction, committed before this returns."""
    with new_session() as session:
        try:
            ticket, created = service.accept(session, report)
            receipt = Receipt.of(ticket, created)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return receipt


class IntakeBatcher:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, report: Report) -> Future[Receipt]:
        """Queue a report; the future resolves once it is committed (or with the error refusing it)."""
        future: Future[Receipt] = Future()
        self._ensure_committer()
        self._queue.put((report, future))
        return future

    def _ensure_committer(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            if self._pid not in (0, os.getpid()):
                self._queue = queue.SimpleQueue()  # a forked child: the parent's reports are not its own
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="intake-committer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            limit = get_settings().intake_group_max
            while len(group) < limit:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                commit_group(group)
            except BaseException:  # never leave a request waiting, never let the thread die
                log.exception("intake group of %d failed unexpectedly", len(group))
                for _, future in group:
                    if not future.done():
                        future.set_exception(RuntimeError("受理失败，请重试"))


def commit_group(group: Sequence[Pending]) -> None:
    """Accept and commit a group, then resolve each request's future."""
    reports = [report for report, _ in group]
    try:
        with new_session() as session:
            results = service.accept_many(session, reports)
            answers: list[Receipt | BaseException] = [
                r if isinstance(r, BaseException) else Receipt.of(*r) for r in results
            ]
            session.commit()
    except Exception:
        if len(group) > 1:
            log.warning(
                "intake group of %d failed; accepting its reports one by one", len(group), exc_info=True
            )
        answers = [_alone_or_error(report) for report in reports]
    for (_, future), answer in zip(group, answers, strict=True):
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        else:
            future.set_result(answer)


def _alone_or_error(report: Report) -> Receipt | BaseException:
    try:
        return accept_alone(report)
    except Exception as exc:
        return exc


batcher = IntakeBatcher()
