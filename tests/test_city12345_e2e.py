"""The city 12345 platform link in the running system: the API, a worker and the scheduler as processes
(as `up` and compose start them), and a receiver process standing in for the city platform.

The city pushes tickets down (signed, its id the idempotency key, its time limit kept); 延期, 办结 and 回退
are sent back through the outbox while the receiver is down and a worker is killed; once it is up every
message arrives exactly once, signed, and the delivery log shows the failed tries; a message that gave
up is sent again by an admin's manual retry; the city's signed receipt is taken once."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.helpers import grids_in, inside
from tests.processes import Processes, free_port, token, wait_healthy

pytestmark = pytest.mark.e2e

SECRET = "shared-secret-for-tests-0123456789"
SH = ZoneInfo("Asia/Shanghai")


def signed(
    body: dict[str, Any], key: str, *, secret: str = SECRET, at: float | None = None
) -> dict[str, Any]:
    """What the city platform sends: the key, and the body signed as HMAC-SHA256("<ts>.<body>")."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = str(int(at if at is not None else time.time()))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    headers = {
        "X-API-Key": key,
        "X-Grid-Timestamp": stamp,
        "X-Grid-Signature": f"sha256={mac}",
        "Content-Type": "application/json",
    }
    return {"content": raw, "headers": headers}


def until(check: Callable[[], Any], what: str, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _listening(port: int) -> bool:
    try:
        httpx.post(f"http://127.0.0.1:{port}/ping", content=b"{}", timeout=0.5)
        return True
    except httpx.HTTPError:
        return False


def test_pushed_tickets_are_answered_back_exactly_once_across_an_outage_and_a_worker_kill(
    processes: Processes, tmp_path: Path
) -> None:
    receiver_port, received = free_port(), tmp_path / "received.jsonl"
    processes.extra_env = {
        "GRID_CITY12345_SECRET": SECRET,
        "GRID_CITY12345_CALLBACK_URL": f"http://127.0.0.1:{receiver_port}/city/callback",
        "GRID_OUTBOX_INTERVAL_S": "1",
        "GRID_OUTBOX_RETRY_BASE_S": "0.5",
        "GRID_OUTBOX_RETRY_MAX_S": "1",
        "GRID_OUTBOX_MAX_ATTEMPTS": "4",
        "GRID_OUTBOX_TIMEOUT_S": "2",
    }
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    processes.start("api", "api", "--port", str(port))
    processes.start("worker", "worker")
    processes.start("scheduler", "scheduler")
    wait_healthy(api)
    admin = {"Authorization": f"Bearer {token(api, 'admin')}"}
    made = httpx.post(
        f"{api}/api/admin/api-keys", json={"name": "市12345平台", "scopes": ["city12345"]}, headers=admin
    )
    key = made.json()["key"]

    # 工单下发: signed; the city's id makes a re-push answer the same ticket; its limit is kept.
    lon, lat = inside(grids_in("140213050")[0])
    limit = (datetime.now(SH) + timedelta(days=20)).replace(microsecond=0)
    first = {
        "city_ticket_id": "SZ-2026-000123",
        "request_type": "complaint",
        "category_code": "06010",
        "content": "市平台转办：小区门口垃圾多日未清运",
        "caller_name": "钱女士",
        "caller_phone": "13511112222",
        "lon": lon,
        "lat": lat,
        "deadline_at": limit.isoformat(),
    }
    pushed = httpx.post(f"{api}/city12345/v1/tickets", **signed(first, key))
    assert pushed.status_code == 201, pushed.text
    ticket_id, number = pushed.json()["ticket_id"], pushed.json()["number"]
    assert number.startswith("SJ")
    again = httpx.post(f"{api}/city12345/v1/tickets", **signed(first, key, at=time.time() + 1))
    assert (again.status_code, again.json()["ticket_id"]) == (200, ticket_id)
    second = {
        **first,
        "city_ticket_id": "SZ-2026-000124",
        "content": "市平台转办：咨询事项",
        "lon": None,
        "lat": None,
    }
    second_id = httpx.post(f"{api}/city12345/v1/tickets", **signed(second, key)).json()["ticket_id"]

    # Refused without changing anything: a bad signature, a replay, a stale timestamp, a wrong key, bad input.
    replay = signed({**first, "city_ticket_id": "SZ-REPLAY"}, key)
    assert httpx.post(f"{api}/city12345/v1/tickets", **replay).status_code == 201
    assert httpx.post(f"{api}/city12345/v1/tickets", **replay).status_code == 401  # the same request again
    forged = signed({**first, "city_ticket_id": "SZ-FORGED"}, key, secret="not-the-secret")
    assert httpx.post(f"{api}/city12345/v1/tickets", **forged).status_code == 401
    stale = signed({**first, "city_ticket_id": "SZ-STALE"}, key, at=time.time() - 3600)
    assert httpx.post(f"{api}/city12345/v1/tickets", **stale).status_code == 401
    assert httpx.post(f"{api}/city12345/v1/tickets", **signed(first, key + "x")).status_code == 401
    bad = httpx.post(
        f"{api}/city12345/v1/tickets", **signed({**first, "city_ticket_id": "SZ-BAD", "content": ""}, key)
    )
    assert bad.status_code == 422, bad.text
    dispatcher = {"Authorization": f"Bearer {token(api, 'dispatcher')}"}
    numbers = {
        t["number"]
        for t in httpx.get(f"{api}/api/tickets", params={"source": "city12345"}, headers=dispatcher).json()[
            "items"
        ]
    }
    assert len(numbers) == 3  # the two tickets and the replayed one, nothing of the refused

    def ticket(tid: int) -> dict[str, Any]:
        return dict(httpx.get(f"{api}/api/tickets/{tid}", headers=dispatcher).json())

    routed = until(lambda: (t := ticket(ticket_id))["state"] == "dispatched" and t, "routing")
    assert datetime.fromisoformat(routed["deadline_at"]) == limit  # the city's limit, not the catalog's

    # The receiver is down: 延期, 办结 (first ticket) and 回退 (second) wait in the outbox and fail.
    cg1 = {"Authorization": f"Bearer {token(api, 'cg1')}"}
    lead = {"Authorization": f"Bearer {token(api, 'shiftlead')}"}

    def act(who: dict[str, str], tid: int, path: str, **kw: Any) -> dict[str, Any]:
        answer = httpx.post(f"{api}/api/tickets/{tid}/{path}", headers=who, **kw)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    act(cg1, ticket_id, "sign")
    later = (limit + timedelta(days=5)).isoformat()
    request_id = act(
        cg1, ticket_id, "extensions", json={"new_deadline_at": later, "reason": "需协调环卫车辆"}
    )["extensions"][0]["id"]
    act(lead, ticket_id, f"extensions/{request_id}/approve", json={"note": "同意"})
    act(cg1, ticket_id, "feedback", data={"text": "垃圾已清运，已与物业约定每日清运"})
    act(dispatcher, ticket_id, "verify", json={"passed": True})
    until(lambda: ticket(second_id)["state"] == "manual", "the second ticket in the manual queue")
    act(dispatcher, second_id, "reject", json={"reason": "属咨询类，已电话答复市民，退回市平台"})

    def log() -> list[dict[str, Any]]:
        return list(
            httpx.get(f"{api}/api/admin/deliveries", params={"channel": "city12345"}, headers=admin).json()
        )

    failing = until(lambda: (m := log()) and all(len(x["log"]) >= 2 for x in m) and m, "failed tries")
    assert sorted(m["event"] for m in failing) == ["closed", "extended", "returned"]
    assert all(a["status_code"] is None and a["error"] for m in failing for a in m["log"])
    processes.stop("worker", signal.SIGKILL)  # mid-retry; a new one takes over (as compose restarts it)
    processes.start("worker-2", "worker")
    given_up = until(lambda: (m := log()) and all(x["status"] == "failed" for x in m) and m, "giving up", 60)
    assert all(m["attempts"] == 4 for m in given_up)

    # The receiver comes up; the failed messages go out on an admin's manual retry.
    processes.start_module("receiver", "tests.fakes.receiver", str(receiver_port), SECRET, str(received))
    until(lambda: _listening(receiver_port), "the receiver to listen", 10)
    for message in given_up:
        retried = httpx.post(f"{api}/api/admin/deliveries/{message['id']}/retry", headers=admin)
        assert retried.status_code == 200 and retried.json()["status"] == "pending"
    delivered = until(lambda: (m := log()) and all(x["status"] == "delivered" for x in m) and m, "delivery")
    time.sleep(2)  # a duplicate, if any, would arrive in the meantime
    lines = [json.loads(line) for line in received.read_text(encoding="utf-8").splitlines()]
    callbacks = [r for r in lines if r["path"] == "/city/callback"]
    assert (
        len(callbacks) == 3 and not any(r["repeat"] for r in callbacks) and all(r["valid"] for r in callbacks)
    )
    by_event = {r["body"]["event"]: r["body"] for r in callbacks}
    assert by_event["closed"]["city_ticket_id"] == "SZ-2026-000123"
    assert by_event["closed"]["result"] == "垃圾已清运，已与物业约定每日清运"
    assert datetime.fromisoformat(by_event["extended"]["deadline_at"]) == limit + timedelta(days=5)
    assert by_event["returned"]["city_ticket_id"] == "SZ-2026-000124"
    assert by_event["returned"]["reason"] == "属咨询类，已电话答复市民，退回市平台"
    assert {str(m["id"]) for m in delivered} == {r["delivery"] for r in callbacks}
    assert all(m["log"][-1]["status_code"] == 200 for m in delivered)

    # The city's receipt for one of them: signed, taken once.
    receipt = signed({"delivery_id": delivered[0]["id"]}, key)
    assert httpx.post(f"{api}/city12345/v1/receipts", **receipt).status_code == 200
    assert httpx.post(f"{api}/city12345/v1/receipts", **receipt).status_code == 401  # replayed
    assert next(m for m in log() if m["id"] == delivered[0]["id"])["acknowledged_at"] is not None
