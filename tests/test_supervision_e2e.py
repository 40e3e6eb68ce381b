"""督办 in the running system: the scheduler, a worker and the API run as processes (as `up` and compose
start them) under a faked wall clock, and consoles see each warning arrive exactly once.

A patrol report of 暴露垃圾 (4 working hours) is dispatched on Monday 2026-12-07 at about 09:00 (China
time). Its sign-for limit is 2 working hours (≈ 11:00), its yellow warning 80 % of the limit
(192 working minutes: 09:00–12:00 180, 13:30 + 12 → ≈ 13:42), its deadline ≈ 14:30, and it is escalated
4 working hours after that (14:30–17:30 3 h, Tuesday 08:30 + 1 h → ≈ 09:30). The clock jumps past each
moment; supervision runs every second from two schedulers, so each stage is passed several times.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import func, select
from websockets.sync.client import ClientConnection, connect

from dispatch.db import new_session
from dispatch.stats.models import KpiRollup, KpiWatermark
from dispatch.tickets.models import Action, TicketLog
from tests.processes import FakeClock, Processes, free_port, receive, report_patrol, token, wait_healthy

pytestmark = pytest.mark.e2e

SH = ZoneInfo("Asia/Shanghai")
PASSES_S = 4.0  # with a 1 s interval: at least three passes at each stage


def collect(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every message that arrives within `seconds`."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            messages.append(receive(ws, timeout_s=left))
        except TimeoutError:
            break
    return messages


def actions(messages: list[dict[str, Any]], ticket_id: int) -> Counter[str]:
    return Counter(m["action"] for m in messages if m["ticket"]["id"] == ticket_id)


def test_scheduler_warns_urges_and_escalates_once_each(processes: Processes, tmp_path: Path) -> None:
    fake = FakeClock(tmp_path)
    fake.set(datetime(2026, 12, 7, 9, 0, tzinfo=SH))
    processes.extra_env = {
        **fake.env(),
        "GRID_SUPERVISE_INTERVAL_S": "1",
        "GRID_KPI_REFRESH_INTERVAL_S": "1",
        "GRID_TOKEN_TTL_S": str(7 * 86400),  # tokens are issued and checked in the faked time
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start("api", "api", "--port", str(port))
    processes.start("worker", "worker")
    processes.start("scheduler", "scheduler")
    processes.start("scheduler-2", "scheduler")  # a second one (a restart overlap, two hosts): still once
    wait_healthy(base)
    ticket_id = report_patrol(base, "06010", "路边暴露垃圾")
    ws_url = f"ws://127.0.0.1:{port}/api/console/ws"
    with (
        connect(f"{ws_url}?token={token(base, 'dispatcher')}&since=0") as centre,
        connect(f"{ws_url}?token={token(base, 'cg1')}&since=0") as department,
    ):
        seen = collect(centre, 3)
        routed = [m for m in seen if m["action"] == "route"]
        assert routed and routed[0]["ticket"]["department_name"] == "区城市管理局"
        assert datetime.fromisoformat(routed[0]["at"]).astimezone(SH).date().isoformat() == "2026-12-07"
        assert actions(seen, ticket_id) == Counter({"intake": 1, "route": 1})  # nothing due yet

        stages = [
            (datetime(2026, 12, 7, 11, 5, tzinfo=SH), {"warn_sign": 1}),
            (datetime(2026, 12, 7, 13, 50, tzinfo=SH), {"warn_yellow": 1}),
            (datetime(2026, 12, 7, 14, 40, tzinfo=SH), {"warn_red": 1, "urge": 1}),
            (datetime(2026, 12, 8, 9, 40, tzinfo=SH), {"escalate": 1}),
        ]
        for moment, expected in stages:
            fake.set(moment)
            got = collect(centre, PASSES_S)
            assert actions(got, ticket_id) == Counter(expected), (moment, got)
            seen += got
        red = next(m for m in seen if m["action"] == "warn_red")
        urge = next(m for m in seen if m["action"] == "urge")
        assert red["ticket"]["warning_level"] == "red"
        assert urge["actor"] == "系统" and urge["ticket"]["open_notice_count"] == 1  # automatic 催办
        escalation = next(m for m in seen if m["action"] == "escalate")
        assert escalation["ticket"]["escalation_level"] == "community"
        assert escalation["ticket"]["warning_level"] == "escalated"

        # The department whose ticket it is saw the same stages live, each once.
        theirs = actions(collect(department, 2), ticket_id)
        for action in ("warn_sign", "warn_yellow", "warn_red", "urge", "escalate"):
            assert theirs[action] == 1, theirs

    # And the log, the record leaders are judged by, holds each exactly once after many passes.
    with new_session() as session:
        logged = dict(
            session.exec(
                select(TicketLog.action, func.count())
                .where(TicketLog.ticket_id == ticket_id)
                .group_by(TicketLog.action)
            ).all()
        )
    for action in (Action.WARN_SIGN, Action.WARN_YELLOW, Action.WARN_RED, Action.URGE, Action.ESCALATE):
        assert logged[action] == 1, logged

    # The scheduler also keeps the KPI rollup: every log row folded in, the ticket counted once as
    # dispatched, on the day it was reported.
    deadline = time.monotonic() + 10
    while True:
        with new_session() as session:
            mark = session.exec(select(KpiWatermark.log_id)).one()
            newest = session.exec(select(func.max(TicketLog.id))).one()
            district = session.exec(
                select(KpiRollup).where(KpiRollup.dimension == "district", KpiRollup.key == "all")
            ).all()
        if mark == newest or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert mark == newest
    assert [(r.day.isoformat(), r.total, r.dispatched, r.signed) for r in district] == [
        ("2026-12-07", 1, 1, 0)
    ]
