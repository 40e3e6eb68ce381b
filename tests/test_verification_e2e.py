"""A field check's deadline in the running system: the API, a worker and two schedulers run as processes
(as `up` and compose start them) under a faked wall clock; the community workstation's console sees the
overdue warning arrive once, and the answer given late is marked late.

The report is routed to the first grid's community workstation on Monday 2026-12-07 at about 09:00
(China time); the workstation sends a 核实 to the grid's officer at once. Its deadline is 2 working
hours later (≈ 11:00)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from websockets.sync.client import connect

from tests.processes import FakeClock, Processes, free_port, report_patrol, token, wait_healthy
from tests.test_supervision_e2e import PASSES_S, actions, collect
from tests.workflow_helpers import png_bytes

pytestmark = pytest.mark.e2e

SH = ZoneInfo("Asia/Shanghai")


def test_scheduler_warns_of_an_unanswered_check_once(processes: Processes, tmp_path: Path) -> None:
    fake = FakeClock(tmp_path)
    fake.set(datetime(2026, 12, 7, 9, 0, tzinfo=SH))
    processes.extra_env = {
        **fake.env(),
        "GRID_SUPERVISE_INTERVAL_S": "1",
        "GRID_TOKEN_TTL_S": str(7 * 86400),  # tokens are issued and checked in the faked time
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start("api", "api", "--port", str(port))
    processes.start("worker", "worker")
    processes.start("scheduler", "scheduler")
    processes.start("scheduler-2", "scheduler")
    wait_healthy(base)
    workstation = {"Authorization": f"Bearer {token(base, 'sqzx')}"}
    ticket_id = report_patrol(base, "06030", "楼道堆放杂物", officer="wgy0002")

    with connect(f"ws://127.0.0.1:{port}/api/console/ws?token={token(base, 'sqzx')}&since=0") as console:
        seen = collect(console, 3)
        assert actions(seen, ticket_id)["route_manual"] == 1  # in the workstation's queue
        asked = httpx.post(f"{base}/api/tickets/{ticket_id}/verification", json={}, headers=workstation)
        assert asked.status_code == 200, asked.text
        [check] = asked.json()["verifications"]
        deadline = datetime.fromisoformat(check["deadline_at"]).astimezone(SH)
        assert (deadline.date().isoformat(), deadline.hour) == ("2026-12-07", 11)

        fake.set(datetime(2026, 12, 7, 10, 50, tzinfo=SH))  # not yet due
        assert actions(collect(console, PASSES_S), ticket_id)["verify_warn"] == 0
        fake.set(datetime(2026, 12, 7, 11, 10, tzinfo=SH))
        warned = collect(console, PASSES_S)
        assert actions(warned, ticket_id)["verify_warn"] == 1, warned
        warning = next(m for m in warned if m["action"] == "verify_warn")
        assert warning["actor"] == "系统" and "核实超时" in warning["note"]

    # The officer answers late: taken, and marked late on the task the workstation reads.
    officer = {"Authorization": f"Bearer {token(base, 'wgy0001')}"}
    late = httpx.post(
        f"{base}/api/verifications/{check['id']}/answer",
        data={"answer": "confirmed"},
        files=[("photos", ("scene.png", png_bytes(), "image/png"))],
        headers=officer,
    )
    assert late.status_code == 200, late.text
    assert late.json()["on_time"] is False and late.json()["warned"] is True
    log = httpx.get(f"{base}/api/tickets/{ticket_id}", headers=workstation).json()["log"]
    assert [e["action"] for e in log].count("verify_warn") == 1
