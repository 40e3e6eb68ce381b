"""The runs of `bench.run`, each against a started Stack, each returning its figures as a dict:
throughput (closed loop), steady-rate latency (open loop), console fan-out, KPI reads, and KPI reads
over a loaded year of history."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from bench import history
from bench.load import (
    MAX_IN_FLIGHT,
    ROUTED,
    closed_loop,
    http_client,
    kpi_reads,
    open_consoles,
    open_loop,
    percentiles,
    summarize_requests,
    wait_until,
)
from bench.modes import EventMaker, Submit
from bench.stack import Stack, rss_kib

HISTORY_YEAR = 2025


@dataclass
class Target:
    stack: Stack
    maker: EventMaker
    submit: Submit
    dispatcher_token: str
    drain_timeout_s: float


async def _watch_rss(pids: list[int], peak: dict[int, int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for pid in pids:
            peak[pid] = max(peak.get(pid, 0), rss_kib(pid))
        await asyncio.sleep(0.25)


async def throughput(target: Target, *, events: int, concurrency: int) -> dict[str, Any]:
    """E events as fast as C outstanding requests allow; then until every ticket is routed."""
    stack = target.stack
    cpu_before = stack.cpu_snapshot()
    started = time.perf_counter()
    async with http_client(concurrency) as client:
        sent = await closed_loop(client, target.submit, target.maker, "T", events, concurrency)
    intake_s = time.perf_counter() - started
    cpu_intake = stack.cpu_snapshot()
    ids = [s.ticket_id for s in sent if s.ticket_id is not None]
    routed = await wait_until(lambda: stack.unrouted(ids) == 0, timeout_s=target.drain_timeout_s, step_s=0.1)
    total_s = time.perf_counter() - started
    cpu_after = stack.cpu_snapshot()
    errors = [s.error for s in sent if s.error]
    return {
        "events": events,
        "concurrency": concurrency,
        "acknowledged": len(ids),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:3],
        "intake_s": round(intake_s, 2),
        "intake_per_s": round(len(ids) / intake_s, 1),
        "all_routed": routed,
        "unrouted_at_end": 0 if routed else stack.unrouted(ids),
        "end_to_end_s": round(total_s, 2),
        "end_to_end_per_s": round(len(ids) / total_s, 1) if routed else None,
        "request_latency": percentiles([s.answered_at - s.intended_at for s in sent if s.answered_at]),
        "cpu_during_intake": stack.cpu_use(cpu_before, cpu_intake),
        "cpu_during_drain": stack.cpu_use(cpu_intake, cpu_after),
    }


async def steady(target: Target, *, rate_per_s: float, duration_s: float) -> dict[str, Any]:
    """Open loop at R events/s for T s: POST→201 and POST→`route` on a dispatcher's console, both
    from the intended send time."""
    stack = target.stack
    (console,) = await open_consoles(stack.bases, target.dispatcher_token, stack.last_seq(), 1, ROUTED)
    cpu_before = stack.cpu_snapshot()
    async with http_client(MAX_IN_FLIGHT) as client:
        sent, start_at = await open_loop(
            client, target.submit, target.maker, "S", rate_per_s, duration_s, target.drain_timeout_s
        )
    answered_by = time.perf_counter()
    ids = [s.ticket_id for s in sent if s.ticket_id is not None]
    drained = await wait_until(
        lambda: all(console.first(ROUTED, i) is not None for i in ids), target.drain_timeout_s
    )
    censor_at = time.perf_counter()
    cpu_after = stack.cpu_snapshot()
    await console.close()
    routed_at = [(s, console.first(ROUTED, s.ticket_id)) for s in sent if s.ticket_id is not None]
    route_latencies = [(at if at is not None else censor_at) - s.intended_at for s, at in routed_at]
    routed = sum(1 for _, at in routed_at if at is not None)
    last_route = max((at for _, at in routed_at if at is not None), default=start_at)
    answers = summarize_requests(sent, start_at, answered_by, duration_s)
    return {
        "target_per_s": rate_per_s,
        "duration_s": duration_s,
        **answers,
        "routed": routed,
        "all_routed": drained,
        "routed_per_s": round(routed / max(duration_s, last_route - start_at), 1),
        "route_latency": percentiles(route_latencies),
        "fell_behind": _fell_behind(answers, rate_per_s, drained),
        "cpu": stack.cpu_use(cpu_before, cpu_after),
    }


def _fell_behind(answers: dict[str, Any], rate_per_s: float, drained: bool) -> bool:
    first, last = answers["p50_first_third_ms"] or 0, answers["p50_last_third_ms"] or 0
    return bool(
        answers["acknowledged_per_s"] < 0.95 * rate_per_s
        or answers["errors"]
        or answers["unanswered"]
        or not drained
        or last > 2 * first + 50
    )


async def fanout(target: Target, *, consoles: int, rate_per_s: float, duration_s: float) -> dict[str, Any]:
    """K consoles at once, events at a steady rate: commit (the 201 answer) → receipt on every
    console, and the API processes' memory."""
    stack = target.stack
    pids = stack.api_pids()
    rss_idle = {pid: rss_kib(pid) for pid in pids}
    connect_started = time.perf_counter()
    opened = await open_consoles(
        stack.bases, target.dispatcher_token, stack.last_seq(), consoles, frozenset({"intake"})
    )
    connect_s = time.perf_counter() - connect_started
    await asyncio.sleep(1)
    rss_connected = {pid: rss_kib(pid) for pid in pids}
    peak: dict[int, int] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_rss(pids, peak, stop))
    cpu_before = stack.cpu_snapshot()
    async with http_client(MAX_IN_FLIGHT) as client:
        sent, start_at = await open_loop(
            client, target.submit, target.maker, "F", rate_per_s, duration_s, target.drain_timeout_s
        )
    answered_by = time.perf_counter()
    acked = [s for s in sent if s.ticket_id is not None and s.answered_at is not None]
    delivered = await wait_until(
        lambda: all(c.counts.get("intake", 0) >= len(acked) for c in opened),
        target.drain_timeout_s,
        step_s=0.25,
    )
    censor_at = time.perf_counter()
    cpu_after = stack.cpu_snapshot()
    stop.set()
    await watcher
    latencies: list[float] = []
    by_third: list[list[float]] = [[], [], []]  # by when the event was scheduled: does the lag grow?
    missing = 0
    for c in opened:
        for s in acked:
            at = c.first(frozenset({"intake"}), s.ticket_id or 0)
            missing += at is None
            latencies.append((at if at is not None else censor_at) - (s.answered_at or 0))
            by_third[min(2, 3 * s.event.index // max(1, len(sent)))].append(latencies[-1])
    resets = sum(c.resets for c in opened)
    messages = sum(c.messages for c in opened)
    await asyncio.gather(*(c.close() for c in opened))
    return {
        "consoles": consoles,
        "target_per_s": rate_per_s,
        "duration_s": duration_s,
        "connect_s": round(connect_s, 2),
        "requests": summarize_requests(sent, start_at, answered_by, duration_s),
        "deliveries_expected": len(opened) * len(acked),
        "deliveries_missing": missing,
        "all_delivered": delivered,
        "messages_received": messages,
        "resets": resets,
        "delivery_latency": percentiles(latencies),
        "delivery_p50_by_third_ms": [percentiles(t).get("p50_ms") for t in by_third],
        "api_rss_kib": {
            "idle": sum(rss_idle.values()),
            "consoles_connected": sum(rss_connected.values()),
            "peak_during_run": sum(peak.values()),
            "per_process_peak": list(peak.values()),
        },
        "cpu": stack.cpu_use(cpu_before, cpu_after),
    }


async def kpis(target: Target, *, repeats: int) -> dict[str, Any]:
    """KPI reads over the tickets the earlier runs made, one request at a time."""
    stack = target.stack
    cpu_before = stack.cpu_snapshot()
    async with http_client(4) as client:
        result = await kpi_reads(client, stack.bases[0], target.dispatcher_token, repeats)
    tickets = stack.sql("SELECT count(*) FROM ticket")[0][0]
    return {**result, "tickets_in_database": tickets, "cpu": stack.cpu_use(cpu_before, stack.cpu_snapshot())}


async def kpi_history(target: Target, *, tickets: int, repeats: int) -> dict[str, Any]:
    """COPY a year of `tickets` historical tickets (bench.history), then KPI reads over that year and
    over one month of it, by every grouping, one request at a time."""
    stack = target.stack
    loaded = await asyncio.to_thread(history.load, stack.database_url, tickets=tickets, year=HISTORY_YEAR)
    year = (f"{HISTORY_YEAR}-01-01T00:00:00", f"{HISTORY_YEAR + 1}-01-01T00:00:00")
    month = (f"{HISTORY_YEAR}-06-01T00:00:00", f"{HISTORY_YEAR}-07-01T00:00:00")
    cpu_before = stack.cpu_snapshot()
    async with http_client(4) as client:
        over_year = await kpi_reads(client, stack.bases[0], target.dispatcher_token, repeats, year)
        over_month = await kpi_reads(client, stack.bases[0], target.dispatcher_token, repeats, month)
    in_database = stack.sql("SELECT count(*) FROM ticket")[0][0]
    return {
        "load": loaded,
        "tickets_in_database": in_database,
        "year": over_year,
        "month": over_month,
        "cpu": stack.cpu_use(cpu_before, stack.cpu_snapshot()),
    }
