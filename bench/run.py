"""The benchmark harness, one command: real processes on PostgreSQL and Redis, then a throughput run, a
steady-rate latency run (coordinated omission counted), a console fan-out run and a KPI run; writes
docs/bench/result-<UTC>.json and docs/bench/latency-<UTC>.png and prints a Markdown table.

Run: .venv/bin/python -m bench.run            (full, a few minutes)
     .venv/bin/python -m bench.run --quick    (about a minute)
Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth; a scratch database is created and
dropped) and redis-server on PATH (a private one on a free port), or --redis-url for an existing Redis
database the harness may flush.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from bench import report, scenarios
from bench.modes import MODES, EventMaker, Mode
from bench.stack import Stack

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "bench"
QUICK = {
    "events": 400,
    "rate": 50.0,
    "duration": 10.0,
    "consoles": 50,
    "fanout_rate": 25.0,
    "fanout_duration": 8.0,
    "kpi_repeats": 3,
    "history_tickets": 300_000,
    "drain_timeout": 60.0,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=[*MODES, "all"], default="per-event", help="intake mode(s)")
    parser.add_argument("--quick", action="store_true", help="small figures, about a minute")
    parser.add_argument("--api-procs", type=int, default=1, help="API processes (clients spread over them)")
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes")
    parser.add_argument("--events", type=int, default=2000, help="throughput run: events")
    parser.add_argument("--concurrency", type=int, default=32, help="throughput run: requests in flight")
    parser.add_argument("--rate", type=float, default=100.0, help="steady run: events/s")
    parser.add_argument("--duration", type=float, default=30.0, help="steady run: seconds")
    parser.add_argument("--consoles", type=int, default=200, help="fan-out run: websocket consoles")
    parser.add_argument("--fanout-rate", type=float, default=50.0, help="fan-out run: events/s")
    parser.add_argument("--fanout-duration", type=float, default=20.0, help="fan-out run: seconds")
    parser.add_argument("--kpi-repeats", type=int, default=10, help="KPI run: passes over 6 groupings")
    parser.add_argument(
        "--patrol-share", type=float, default=0.2, help="share of events that are patrol reports"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=180.0, help="longest wait for answers/routing, s"
    )
    parser.add_argument(
        "--history-tickets",
        type=int,
        default=24_000_000,
        help="history run: tickets of a year COPY-loaded before the year's KPI reads",
    )
    parser.add_argument(
        "--runs",
        default="throughput,steady,fanout,kpis,history,scaling",
        help="comma-separated subset of the runs (history and scaling run once, with the last mode)",
    )
    parser.add_argument("--redis-url", default="", help="use (and flush) this Redis instead of a private one")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON and PNG go")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            if parser.get_default(name) == getattr(args, name):
                setattr(args, name, value)
    return args


def _token(base: str, username: str) -> str:
    answer = httpx.post(f"{base}/api/auth/token", data={"username": username, "password": "demo1234"})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


async def run_mode(
    mode: Mode, args: argparse.Namespace, stack: Stack, figures: dict[str, Any], *, last: bool
) -> None:
    """Every selected run against one started stack, in order; each run's figures into `figures` as it
    finishes (so a failure later keeps them)."""
    assert mode.submit is not None
    base = stack.bases[0]
    maker = EventMaker(
        bases=stack.bases,
        hotline_token=_token(base, "hotline"),
        officer_token=_token(base, "wgy0001"),
        patrol_share=args.patrol_share,
    )
    target = scenarios.Target(
        stack=stack,
        maker=maker,
        submit=mode.submit,
        dispatcher_token=_token(base, "dispatcher"),
        drain_timeout_s=args.drain_timeout,
    )
    runs = set(args.runs.split(","))
    if "throughput" in runs:
        _say(f"[{mode.name}] throughput: {args.events} events, {args.concurrency} in flight")
        figures["throughput"] = await scenarios.throughput(
            target, events=args.events, concurrency=args.concurrency
        )
        stack.check_alive()
    if "steady" in runs:
        _say(f"[{mode.name}] steady: {args.rate:g}/s for {args.duration:g} s")
        figures["steady"] = await scenarios.steady(target, rate_per_s=args.rate, duration_s=args.duration)
        stack.check_alive()
    if "fanout" in runs:
        _say(
            f"[{mode.name}] fan-out: {args.consoles} consoles, "
            f"{args.fanout_rate:g}/s for {args.fanout_duration:g} s"
        )
        figures["fanout"] = await scenarios.fanout(
            target, consoles=args.consoles, rate_per_s=args.fanout_rate, duration_s=args.fanout_duration
        )
        stack.check_alive()
    if "kpis" in runs:
        _say(f"[{mode.name}] KPI reads: {args.kpi_repeats} × 6 groupings")
        figures["kpis"] = await scenarios.kpis(target, repeats=args.kpi_repeats)
    if "history" in runs and last:
        _say(
            f"[{mode.name}] history: COPY {args.history_tickets:,} tickets of a year, then KPI reads over it"
        )
        figures["history"] = await scenarios.kpi_history(
            target, tickets=args.history_tickets, repeats=args.kpi_repeats
        )


def _say(text: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {text}", file=sys.stderr, flush=True)


def _stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the `finally` that stops the processes and drops the DB


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    wanted = list(MODES) if args.mode == "all" else [args.mode]
    unbuilt = [name for name in wanted if MODES[name].submit is None]
    for name in unbuilt:
        print(f"mode {name!r} is not built yet: {MODES[name].description}", file=sys.stderr)
    if args.mode != "all" and unbuilt:
        raise SystemExit(2)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    started_at = datetime.now(UTC)
    stamp = f"{started_at:%Y%m%dT%H%M%SZ}"
    result: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]),
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "modes": {},
        "skipped_modes": {name: MODES[name].description for name in unbuilt},
    }
    try:
        built = [name for name in wanted if MODES[name].submit is not None]
        for name in built if set(args.runs.split(",")) - {"scaling"} else ():
            figures = result["modes"].setdefault(name, {})
            _run_stack(MODES[name], args, result, figures, last=name == built[-1])
        if "scaling" in args.runs.split(",") and built:
            _run_scaling(MODES[built[-1]], args, result)
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        _write(result, args.out, stamp)


def _run_scaling(mode: Mode, args: argparse.Namespace, result: dict[str, Any]) -> None:
    """The throughput run on 1 API × 1 worker, then on 2 API × 2 workers, and the ratio."""
    scaling: dict[str, Any] = {"mode": mode.name, "events": args.events}
    result["scaling"] = scaling
    for api_procs, workers in ((1, 1), (2, 2)):
        shape = argparse.Namespace(
            **{**vars(args), "api_procs": api_procs, "workers": workers, "runs": "throughput"}
        )
        figures = scaling.setdefault(f"{api_procs}x{workers}", {})
        _run_stack(mode, shape, result, figures, last=False)
    small, large = (scaling[k].get("throughput", {}) for k in ("1x1", "2x2"))
    for rate in ("intake_per_s", "end_to_end_per_s"):
        if small.get(rate) and large.get(rate):
            scaling[f"ratio_{rate}"] = round(large[rate] / small[rate], 2)


def _run_stack(
    mode: Mode, args: argparse.Namespace, result: dict[str, Any], figures: dict[str, Any], *, last: bool
) -> None:
    stack = Stack(
        api_procs=args.api_procs, workers=args.workers, redis_url=args.redis_url, extra_env=mode.env
    )
    try:
        _say(
            f"[{mode.name}] starting PostgreSQL database, Redis, {args.api_procs} API, {args.workers} workers"
        )
        setup_started = time.perf_counter()
        stack.start()
        _say(f"[{mode.name}] ready in {time.perf_counter() - setup_started:.1f} s ({stack.database})")
        result.setdefault("machine", report.machine_facts(stack.redis_url))
        asyncio.run(run_mode(mode, args, stack, figures, last=last))
    finally:
        stack.stop()


def _write(result: dict[str, Any], out: Path, stamp: str) -> None:
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    json_path = out / f"result-{stamp}.json"
    report.write_json(result, json_path)
    png_path = out / f"latency-{stamp}.png"
    report.write_png(result, png_path)
    print(f"## Benchmark {result['started_at']} — `{result['command']}`\n")
    print(report.markdown_table(result))
    print(f"written: {json_path}\n         {png_path}")


if __name__ == "__main__":
    main()
