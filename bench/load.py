"""Load generation and measurement: a closed-loop throughput run, an open-loop steady-rate generator
whose latencies count from each request's *intended* send time (coordinated omission counted), and
websocket consoles that time every message they receive. All times are `time.perf_counter()` seconds
of this one client process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.modes import Event, EventMaker, Submit

# Requests in flight at once in the open loop, like a load tool's fixed connections. httpx's pool does
# work per waiting request on every hand-over, so thousands queued inside it (a stalled server at 100/s)
# spin the client at 100 % CPU; the excess waits on a semaphore instead, its intended time kept.
MAX_IN_FLIGHT = 64
ROUTED = frozenset({"route", "route_manual"})  # routing done: to a department, or to the manual queue


def percentiles(samples_s: list[float]) -> dict[str, float | int]:
    """Nearest-rank p50/p90/p99/p99.9/max of latencies in seconds, as milliseconds; n = sample count."""
    if not samples_s:
        return {"n": 0}
    ordered = sorted(samples_s)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))] * 1000, 1)

    return {
        "n": len(ordered),
        "min_ms": round(ordered[0] * 1000, 1),
        "p50_ms": rank(0.50),
        "p90_ms": rank(0.90),
        "p99_ms": rank(0.99),
        "p999_ms": rank(0.999),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def http_client(connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(timeout=httpx.Timeout(120.0), limits=limits)


# -- consoles ---------------------------------------------------------------------------------------
# A change message as the server encodes it (compact JSON): its action, then its ticket's id.
CHANGE = re.compile(r'"action":"([a-z_]+)".*?"ticket":\{[^{}]*?"id":(\d+)')


@dataclass(eq=False)
class Console:
    """One websocket console: when it first received each (action, ticket id)."""

    url: str
    actions: frozenset[str]
    received: dict[tuple[str, int], float] = field(default_factory=dict)
    messages: int = 0
    resets: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # first receipts per action
    ws: ClientConnection | None = None
    task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.ws = await connect(self.url, max_size=None, open_timeout=60, ping_interval=None)
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        """Frames are JSON arrays of changes (batch=1, as the product's pages ask); the client notes
        the action and ticket of each by pattern rather than decoding every message, so that 1,000
        consoles in one client process measure the server, not the client's JSON decoding."""
        assert self.ws is not None
        with contextlib.suppress(Exception):  # the run ends by closing the socket
            async for raw in self.ws:
                at = time.perf_counter()
                text = raw if isinstance(raw, str) else raw.decode()
                if text.startswith("{"):
                    self.messages += 1
                    self.resets += json.loads(text).get("type") == "reset"
                    continue
                for action, ticket_id in CHANGE.findall(text):
                    self.messages += 1
                    key = (action, int(ticket_id))
                    if action in self.actions and key not in self.received:
                        self.received[key] = at
                        self.counts[action] = self.counts.get(action, 0) + 1

    def first(self, actions: frozenset[str], ticket_id: int) -> float | None:
        times = [t for a in actions if (t := self.received.get((a, ticket_id))) is not None]
        return min(times) if times else None

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def open_consoles(
    bases: list[str], token: str, since: int, count: int, actions: frozenset[str]
) -> list[Console]:
    """`count` consoles spread over the API processes, opened 50 at a time."""
    consoles = [
        Console(
            f"{bases[i % len(bases)].replace('http', 'ws', 1)}/api/console/ws?token={token}&since={since}"
            "&batch=1",
            actions,
        )
        for i in range(count)
    ]
    for start in range(0, count, 50):
        await asyncio.gather(*(c.open() for c in consoles[start : start + 50]))
    return consoles


async def wait_until(done: Callable[[], bool], timeout_s: float, step_s: float = 0.1) -> bool:
    deadline = time.perf_counter() + timeout_s
    while not done():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(step_s)
    return True


# -- requests ---------------------------------------------------------------------------------------
@dataclass
class Sent:
    """One request: when it should have gone, when it went, when the answer came, what it said."""

    event: Event
    intended_at: float
    sent_at: float = 0.0
    answered_at: float | None = None
    ticket_id: int | None = None
    error: str | None = None


async def _send(client: httpx.AsyncClient, submit: Submit, sent: Sent) -> None:
    sent.sent_at = time.perf_counter()
    try:
        ack = await submit(client, sent.event)
        sent.ticket_id = ack.ticket_id
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        sent.error = f"{type(exc).__name__}: {exc}"[:300]
    sent.answered_at = time.perf_counter()


async def closed_loop(
    client: httpx.AsyncClient, submit: Submit, maker: EventMaker, tag: str, count: int, concurrency: int
) -> list[Sent]:
    """Send `count` events as fast as `concurrency` outstanding requests allow."""
    pending = [Sent(maker.make(tag, i), intended_at=0.0) for i in range(count)]
    cursor = iter(pending)

    async def lane() -> None:
        for sent in cursor:
            sent.intended_at = time.perf_counter()
            await _send(client, submit, sent)

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return pending


async def open_loop(
    client: httpx.AsyncClient,
    submit: Submit,
    maker: EventMaker,
    tag: str,
    rate_per_s: float,
    duration_s: float,
    answer_timeout_s: float,
) -> tuple[list[Sent], float]:
    """Start one request at each tick of a fixed schedule whether or not earlier ones were answered;
    each keeps its intended time, so a stall shows in the latency of every request it delayed.
    Returns the requests and the schedule's start; unanswered ones are left with `answered_at` None."""
    count = round(rate_per_s * duration_s)
    start_at = time.perf_counter() + 0.2
    schedule = [Sent(maker.make(tag, i), intended_at=start_at + i / rate_per_s) for i in range(count)]
    connections = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def send(sent: Sent) -> None:
        async with connections:  # a request waiting here is late, and its latency says so
            await _send(client, submit, sent)

    tasks = []
    for sent in schedule:
        delay_s = sent.intended_at - time.perf_counter()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        tasks.append(asyncio.create_task(send(sent)))
    _, late = await asyncio.wait(tasks, timeout=answer_timeout_s)
    for task in late:
        task.cancel()
    return schedule, start_at


def summarize_requests(sent: list[Sent], start_at: float, censor_at: float, span_s: float) -> dict[str, Any]:
    """Latency from intended send time to the answer. A request with no answer by `censor_at` counts
    with the latency it had then (it is at least that slow), so percentiles never flatter a stall. The
    achieved rate divides by the schedule's span (`span_s`) or, when answers came later, until the last."""
    ok = [s for s in sent if s.answered_at is not None and s.error is None]
    latencies = [
        (s.answered_at if s.answered_at is not None and s.error is None else censor_at) - s.intended_at
        for s in sent
    ]
    thirds = max(1, len(sent) // 3)
    first = [s.answered_at - s.intended_at for s in ok if s.event.index < thirds and s.answered_at]
    last = [
        s.answered_at - s.intended_at for s in ok if s.event.index >= len(sent) - thirds and s.answered_at
    ]
    last_answer = max((s.answered_at for s in ok if s.answered_at), default=start_at)
    errors = [s.error for s in sent if s.error]
    return {
        "offered": len(sent),
        "acknowledged": len(ok),
        "errors": len(errors),
        "unanswered": sum(1 for s in sent if s.answered_at is None),
        "error_samples": sorted(set(errors))[:3],
        "acknowledged_per_s": round(len(ok) / max(span_s, last_answer - start_at), 1),
        "send_lag_max_ms": round(
            max((s.sent_at - s.intended_at for s in sent if s.sent_at), default=0) * 1e3, 1
        ),
        "latency": percentiles(latencies),
        "p50_first_third_ms": percentiles(first).get("p50_ms"),
        "p50_last_third_ms": percentiles(last).get("p50_ms"),
    }


# -- KPI reads --------------------------------------------------------------------------------------
async def kpi_reads(
    client: httpx.AsyncClient, base: str, token: str, repeats: int, period: tuple[str, str] | None = None
) -> dict[str, Any]:
    """GET /api/stats/kpis for every grouping, one at a time, over `period` (Beijing ISO times; by
    default the day the tickets were made)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    if period is None:
        today = datetime.now(ZoneInfo("Asia/Shanghai")).replace(
            tzinfo=None, hour=0, minute=0, second=0, microsecond=0
        )
        period = (today.isoformat(), (today + timedelta(days=1)).isoformat())
    params = {"date_from": period[0], "date_to": period[1]}
    headers = {"Authorization": f"Bearer {token}"}
    latencies: dict[str, list[float]] = {}
    failures = 0
    for _ in range(repeats):
        for group_by in ("district", "street", "community", "grid", "department", "category"):
            started = time.perf_counter()
            answer = await client.get(
                f"{base}/api/stats/kpis", params={**params, "group_by": group_by}, headers=headers
            )
            latencies.setdefault(group_by, []).append(time.perf_counter() - started)
            failures += answer.status_code != 200
    every = [x for values in latencies.values() for x in values]
    return {
        "requests": len(every),
        "failures": failures,
        "latency": percentiles(every),
        "by_group": {g: percentiles(v) for g, v in latencies.items()},
    }
