"""What `bench.run` writes: machine facts, the Markdown table it prints, the JSON result and a PNG chart
of the latency percentiles (drawn with Pillow, already a dependency, so no plotting library is needed)."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

import psycopg
from redis import Redis

from bench.stack import PG_ADMIN_URL


def machine_facts(redis_url: str) -> dict[str, Any]:
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    with psycopg.connect(PG_ADMIN_URL) as conn:
        pg_version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    redis_version = str(Redis.from_url(redis_url).info("server")["redis_version"])
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "postgresql": pg_version,
        "redis": redis_version,
        "load_average_at_start": os.getloadavg(),
    }


def _ms(figures: dict[str, Any], key: str) -> str:
    value = figures.get(key)
    return "–" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def markdown_table(result: dict[str, Any]) -> str:
    """One table per mode: rates and latency percentiles of every run, and CPU use by process."""
    lines = []
    for mode, runs in result["modes"].items():
        lines += [
            f"### mode: {mode}",
            "",
            "| run | load | achieved | p50 ms | p90 ms | p99 ms | max ms | notes |",
            "|---|---|---|---|---|---|---|---|",
        ]
        if t := runs.get("throughput"):
            e2e = (
                f"{t['end_to_end_per_s']}/s"
                if t["all_routed"]
                else f"NOT drained ({t['unrouted_at_end']} left)"
            )
            lines.append(
                f"| throughput: POST→201 (closed loop) | {t['events']} events, {t['concurrency']} in flight "
                f"| intake {t['intake_per_s']}/s, all routed {e2e} "
                + _cells(t["request_latency"])
                + f" | {t['errors']} errors; latency per request, not from a schedule |"
            )
        if s := runs.get("steady"):
            behind = "**fell behind**" if s["fell_behind"] else "kept up"
            load = f"{s['target_per_s']:g}/s × {s['duration_s']:g} s"
            lines.append(
                f"| steady: intended send → 201 | {load} | acked {s['acknowledged_per_s']}/s "
                + _cells(s["latency"])
                + f" | {behind}; p50 first/last third {s['p50_first_third_ms']}/{s['p50_last_third_ms']} ms; "
                f"{s['errors']} errors, {s['unanswered']} unanswered |"
            )
            lines.append(
                f"| steady: intended send → `route` on console | {load} | routed {s['routed_per_s']}/s "
                + _cells(s["route_latency"])
                + (
                    " | **routing fell behind**; "
                    if s["routed_per_s"] < 0.95 * s["target_per_s"]
                    else " | kept up; "
                )
                + f"{s['routed']}/{s['acknowledged']} routed"
                + ("" if s["all_routed"] else " (drain timed out)")
                + " |"
            )
        if f := runs.get("fanout"):
            rss = f["api_rss_kib"]
            lines.append(
                f"| fan-out: 201 → console receipt | {f['consoles']} consoles, {f['target_per_s']:g}/s × "
                f"{f['duration_s']:g} s | {f['deliveries_expected'] - f['deliveries_missing']:,} deliveries "
                + _cells(f["delivery_latency"])
                + f" | API RSS idle {rss['idle'] // 1024} MiB"
                f" → connected {rss['consoles_connected'] // 1024} MiB"
                f" → peak {rss['peak_during_run'] // 1024} MiB; {f['deliveries_missing']} missing, "
                f"{f['resets']} resets |"
            )
        if k := runs.get("kpis"):
            lines.append(
                f"| KPI reads (`/api/stats/kpis`, 6 groupings) | {k['requests']} requests, 1 at a time, "
                f"{k['tickets_in_database']} tickets | – "
                + _cells(k["latency"])
                + f" | {k['failures']} failures |"
            )
        if h := runs.get("history"):
            loaded = h["load"]
            for span in ("year", "month"):
                k = h[span]
                lines.append(
                    f"| KPI reads over a {span} of history (6 groupings) | {k['requests']} requests, 1 at a "
                    f"time, {h['tickets_in_database']:,} tickets | – "
                    + _cells(k["latency"])
                    + f" | {k['failures']} failures; by department p50 "
                    f"{_ms(k['by_group']['department'], 'p50_ms')} ms; "
                    f"loaded {loaded['tickets']:,} in {loaded['total_s']} s |"
                )
        lines += ["", "CPU (share of one core; `machine` = share of all cores):", ""]
        lines += _cpu_table(runs)
        lines.append("")
    if scaling := result.get("scaling"):
        lines += _scaling_table(scaling)
    return "\n".join(lines)


def _scaling_table(scaling: dict[str, Any]) -> list[str]:
    lines = [
        f"### processes: 2 API × 2 workers against 1 × 1 (mode {scaling['mode']}, "
        f"{scaling['events']} events, throughput run)",
        "",
        "| processes | intake /s | all routed /s | POST→201 p50 ms | p99 ms | machine CPU in intake |",
        "|---|---|---|---|---|---|",
    ]
    for shape in ("1x1", "2x2"):
        t = scaling.get(shape, {}).get("throughput")
        if not t:
            continue
        e2e = t["end_to_end_per_s"] if t["all_routed"] else f"NOT drained ({t['unrouted_at_end']} left)"
        machine = t.get("cpu_during_intake", {}).get("machine")
        lines.append(
            f"| {shape.replace('x', ' API × ')} workers | {t['intake_per_s']} | {e2e} "
            f"| {_ms(t['request_latency'], 'p50_ms')} | {_ms(t['request_latency'], 'p99_ms')} "
            f"| {'–' if machine is None else f'{machine:.2f}'} |"
        )
    lines.append(
        f"| **ratio 2×2 / 1×1** | {scaling.get('ratio_intake_per_s', '–')} "
        f"| {scaling.get('ratio_end_to_end_per_s', '–')} | | | |"
    )
    return [*lines, ""]


def _cells(latency: dict[str, Any]) -> str:
    return "| " + " | ".join(_ms(latency, k) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))


def _cpu_table(runs: dict[str, Any]) -> list[str]:
    columns = {
        "throughput intake": runs.get("throughput", {}).get("cpu_during_intake"),
        "throughput drain": runs.get("throughput", {}).get("cpu_during_drain"),
        "steady": runs.get("steady", {}).get("cpu"),
        "fan-out": runs.get("fanout", {}).get("cpu"),
        "kpis": runs.get("kpis", {}).get("cpu"),
        "history kpis": runs.get("history", {}).get("cpu"),
    }
    present = {name: cpu for name, cpu in columns.items() if cpu}
    roles = sorted({role for cpu in present.values() for role in cpu}, key=lambda r: (r == "machine", r))
    lines = ["| process | " + " | ".join(present) + " |", "|---|" + "---|" * len(present)]
    for role in roles:
        lines.append(
            f"| {role} | " + " | ".join(f"{cpu.get(role, 0):.2f}" for cpu in present.values()) + " |"
        )
    return lines


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


def latency_series(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    series = []
    for mode, runs in result["modes"].items():
        for run, key, label in (
            ("throughput", "request_latency", "throughput POST->201"),
            ("steady", "latency", "steady POST->201"),
            ("steady", "route_latency", "steady POST->route"),
            ("fanout", "delivery_latency", "fan-out 201->console"),
            ("kpis", "latency", "KPI read"),
        ):
            figures = runs.get(run, {}).get(key)
            if figures and figures.get("n"):
                series.append((f"{mode}: {label}", figures))
    return series


def write_png(result: dict[str, Any], path: Path) -> None:
    """Grouped bars (p50, p90, p99, max) per latency series on a log scale, in milliseconds."""
    from PIL import Image, ImageDraw, ImageFont

    series = latency_series(result)
    keys = [
        ("p50_ms", (66, 133, 244)),
        ("p90_ms", (251, 188, 5)),
        ("p99_ms", (234, 67, 53)),
        ("max_ms", (90, 90, 90)),
    ]
    left, right, top, bottom, height = 90, 30, 60, 150, 640
    width = max(1200, left + right + 120 * len(series))  # room for each run's label under its bars
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    values = [max(0.1, s[k]) for _, s in series for k, _ in keys if s.get(k) is not None]
    low = 10 ** math.floor(math.log10(min(values, default=1)))
    high = 10 ** math.ceil(math.log10(max(values, default=10)))
    plot_h = height - top - bottom

    def y(value_ms: float) -> float:
        share = (math.log10(max(value_ms, low)) - math.log10(low)) / (math.log10(high) - math.log10(low))
        return top + plot_h * (1 - share)

    draw.text(
        (left, 15),
        f"Grid Dispatch latency percentiles - {result['started_at']} (log scale, ms)",
        "black",
        font,
    )
    decade = low
    while decade <= high:
        draw.line([(left, y(decade)), (width - right, y(decade))], (220, 220, 220))
        draw.text((10, y(decade) - 8), f"{decade:g} ms", "black", font)
        decade *= 10
    group_w = (width - left - right) / max(1, len(series))
    bar_w = group_w * 0.8 / len(keys)
    for g, (label, figures) in enumerate(series):
        x0 = left + g * group_w + group_w * 0.1
        for b, (key, colour) in enumerate(keys):
            if figures.get(key) is not None:
                x = x0 + b * bar_w
                draw.rectangle([(x, y(figures[key])), (x + bar_w - 2, top + plot_h)], fill=colour)
        for line_no, part in enumerate(_wrap(label, max(8, int(group_w / 8)))):
            draw.text((x0, top + plot_h + 8 + 16 * line_no), part, "black", font)
    for b, (key, colour) in enumerate(keys):
        x = width - right - 4 * 90 + b * 90
        draw.rectangle([(x, 20), (x + 12, 32)], fill=colour)
        draw.text((x + 16, 18), key.removesuffix("_ms"), "black", font)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _wrap(text: str, chars: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > chars:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line]
