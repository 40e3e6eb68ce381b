"""Intake modes the harness can measure, and the synthetic events it sends.

A mode is how events reach the system: the extra environment its processes start with and how the
client submits one event (returning the ticket id once the system has acknowledged it durably).
`--mode all` measures every mode in one run. Routing is batched in both (one job takes every waiting ticket).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    """One synthetic report: a 12345 call (JSON) or a grid officer's patrol report (multipart)."""

    index: int
    kind: str  # "hotline" or "patrol"
    fields: dict[str, Any]
    base: str  # the API process it goes to (round robin over --api-procs)
    token: str


@dataclass(frozen=True)
class Acknowledged:
    ticket_id: int
    status: int


Submit = Callable[[httpx.AsyncClient, Event], Awaitable[Acknowledged]]


async def submit_per_event(client: httpx.AsyncClient, event: Event) -> Acknowledged:
    """One request per event; the 201 means the ticket is committed and its routing job enqueued."""
    headers = {"Authorization": f"Bearer {event.token}"}
    if event.kind == "hotline":
        answer = await client.post(f"{event.base}/api/intake/hotline", json=event.fields, headers=headers)
    else:
        form = {k: str(v) for k, v in event.fields.items()}
        answer = await client.post(f"{event.base}/api/intake/patrol", data=form, headers=headers)
    if answer.status_code != 201:
        raise httpx.HTTPStatusError(
            f"{answer.status_code}: {answer.text[:200]}", request=answer.request, response=answer
        )
    return Acknowledged(ticket_id=int(answer.json()["ticket_id"]), status=answer.status_code)


class CallBatcher:
    """Client side of batch intake, as a call-centre system relaying calls would do it: the 12345 calls
    submitted within `window_s` of the first waiting one go out together to POST
    /api/intake/hotline/batch (at most `max_calls` a request); each call is acknowledged when the batch
    answer says 201 or 200 for it. Patrol reports (one officer's phone, one report) go one by one."""

    def __init__(self, *, window_s: float = 0.01, max_calls: int = 200) -> None:
        self.window_s, self.max_calls = window_s, max_calls
        self._waiting: dict[tuple[str, str], list[tuple[Event, asyncio.Future[Acknowledged]]]] = {}
        self._posting: set[asyncio.Task[None]] = set()  # held until done (the loop keeps weak references)

    async def submit(self, client: httpx.AsyncClient, event: Event) -> Acknowledged:
        if event.kind != "hotline":
            return await submit_per_event(client, event)
        key = (event.base, event.token)
        waiting = self._waiting.setdefault(key, [])
        future: asyncio.Future[Acknowledged] = asyncio.get_running_loop().create_future()
        waiting.append((event, future))
        if len(waiting) >= self.max_calls:
            self._send(client, key)
        elif len(waiting) == 1:
            asyncio.get_running_loop().call_later(self.window_s, self._send, client, key, waiting)
        return await future

    def _send(
        self,
        client: httpx.AsyncClient,
        key: tuple[str, str],
        only: list[tuple[Event, asyncio.Future[Acknowledged]]] | None = None,
    ) -> None:
        if only is not None and self._waiting.get(key) is not only:
            return  # that batch was already sent full
        batch = self._waiting.pop(key, [])
        if batch:
            task = asyncio.ensure_future(self._post(client, key, batch))
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)

    async def _post(
        self,
        client: httpx.AsyncClient,
        key: tuple[str, str],
        batch: list[tuple[Event, asyncio.Future[Acknowledged]]],
    ) -> None:
        base, token = key
        try:
            answer = await client.post(
                f"{base}/api/intake/hotline/batch",
                json={"calls": [event.fields for event, _ in batch]},
                headers={"Authorization": f"Bearer {token}"},
            )
            answer.raise_for_status()
            results = answer.json()["results"]
        except Exception as exc:
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if result["status"] in (200, 201):
                future.set_result(Acknowledged(ticket_id=int(result["ticket_id"]), status=result["status"]))
            else:
                future.set_exception(RuntimeError(f"{result['status']}: {result.get('detail')}"))


@dataclass(frozen=True)
class Mode:
    name: str
    description: str
    env: dict[str, str]
    submit: Submit | None  # None: not built yet


MODES: dict[str, Mode] = {
    "per-event": Mode(
        name="per-event",
        description="one HTTP request and one transaction per event (GRID_INTAKE_GROUP_COMMIT=false)",
        env={"GRID_INTAKE_GROUP_COMMIT": "false"},
        submit=submit_per_event,
    ),
    "batched": Mode(
        name="batched",
        description="one HTTP request per event, group commit: the events arriving while a commit is in "
        "flight share the next transaction (GRID_INTAKE_GROUP_COMMIT=true, the default)",
        env={"GRID_INTAKE_GROUP_COMMIT": "true"},
        submit=submit_per_event,
    ),
    "replay": Mode(
        name="replay",
        description="12345 calls relayed in batches (POST /api/intake/hotline/batch, the calls of 10 ms "
        "together, ≤ 200 a request), as a call-centre system or the city platform sends them; patrol "
        "reports one by one",
        env={"GRID_INTAKE_GROUP_COMMIT": "true"},
        submit=CallBatcher().submit,
    ),
}


class EventMaker:
    """Deterministic synthetic events spread over the demo district's grids, a share of them patrol
    reports; call ids carry a run tag so runs against one database never collide."""

    def __init__(
        self, *, bases: list[str], hotline_token: str, officer_token: str, patrol_share: float
    ) -> None:
        from dispatch.demo.geometry import generate_district

        self.points = [
            (p.x, p.y)
            for p in (a.polygon.representative_point() for a in generate_district() if a.level == "grid")
        ]
        self.bases = bases
        self.hotline_token = hotline_token
        self.officer_token = officer_token
        self.patrol_share = patrol_share

    def make(self, tag: str, index: int) -> Event:
        lon, lat = self.points[(index * 7919) % len(self.points)]  # a prime stride spreads them out
        base = self.bases[index % len(self.bases)]
        if int((index + 1) * self.patrol_share) > int(index * self.patrol_share):
            fields: dict[str, Any] = {
                "lon": lon,
                "lat": lat,
                "category_code": "06010",
                "description": f"基准测试巡查上报 {tag}-{index}",
            }
            return Event(index, "patrol", fields, base, self.officer_token)
        fields = {
            "call_id": f"BENCH-{tag}-{index:07d}",
            "caller_name": "测试",
            "caller_phone": "13800000000",
            "lon": lon,
            "lat": lat,
            "request_type": "complaint",
            "category_code": "06010",
            "content": f"基准测试来电 {tag}-{index}",
        }
        return Event(index, "hotline", fields, base, self.hotline_token)
