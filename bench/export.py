"""Export a million tickets in bounded memory: time and peak RSS of the CSV and XLSX exports.

    python -m bench.export [--tickets 1000000] [--pg postgresql://postgres@127.0.0.1:5432/test]

Makes a fresh PostgreSQL database `bench_export` (migrated, demo district), COPYs the tickets in with the
history loader (a separate process, so its arrays do not count), then runs the export code the
`/api/exports/tickets` endpoint runs, as the district's dispatcher (who sees everything), counting rows
and bytes. Peak RSS is the process's high-water mark (VmHWM) after each export; the baseline is its
resident size before the first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _measure(label: str, run: object) -> dict[str, object]:
    started = time.perf_counter()
    rows, size = run()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    figures = {
        "export": label,
        "rows": rows,
        "bytes": size,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds) if seconds else None,
        "peak_rss_mib": round(_kib("VmHWM") / 1024, 1),
    }
    print(json.dumps(figures, ensure_ascii=False), flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument(
        "--pg", default=os.environ.get("GRID_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--skip-xlsx", action="store_true")
    args = parser.parse_args()

    base = args.pg.rsplit("/", 1)[0]
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_export WITH (FORCE)")
        conn.execute("CREATE DATABASE bench_export")
    url = f"{base}/bench_export"
    env = {**os.environ, "DATABASE_URL": url.replace("postgresql://", "postgresql+psycopg://", 1)}
    for command in (["migrate"], ["seed-demo"]):
        subprocess.run(
            [sys.executable, "-m", "dispatch.cli", *command], env=env, check=True, stdout=subprocess.DEVNULL
        )
    subprocess.run(
        [sys.executable, "-m", "bench.history", url, "--tickets", str(args.tickets), "--year", "2025"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    os.environ["DATABASE_URL"] = env["DATABASE_URL"]

    from sqlmodel import select

    from dispatch.auth.models import User
    from dispatch.db import new_session
    from dispatch.tickets import export
    from dispatch.tickets.models import TicketQuery

    with new_session() as session:
        viewer = session.exec(select(User).where(User.username == "dispatcher")).one()
        session.expunge(viewer)
    query = TicketQuery()
    print(
        json.dumps({"tickets": args.tickets, "baseline_rss_mib": round(_kib("VmRSS") / 1024, 1)}), flush=True
    )

    def csv_run() -> tuple[int, int]:
        size = 0
        lines = 0
        for chunk in export.csv_stream(new_session, export.ticket_rows, export.TICKET_HEADERS, viewer, query):
            size += len(chunk)
            lines += chunk.count(b"\n")
        return lines - 1, size

    def xlsx_run() -> tuple[int, int]:
        path = export.xlsx_file(
            new_session, export.ticket_rows, export.TICKET_HEADERS, viewer, query, title="工单"
        )
        size = sum(len(c) for c in export.file_chunks(path))
        return args.tickets, size

    _measure("tickets.csv", csv_run)
    if not args.skip_xlsx:
        _measure("tickets.xlsx", xlsx_run)


if __name__ == "__main__":
    main()
