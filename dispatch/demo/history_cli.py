"""`grid-dispatch demo-history`: play a past month of the demo district; and `up`'s first-start load.

The history modules are imported when a command runs, so registering this costs the CLI nothing."""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING

from dispatch import clock
from dispatch.config import get_settings

if TYPE_CHECKING:
    from dispatch.demo.history import MonthReport

# The size and seed of a demo month (dispatch.demo.history.play_month's defaults too): about a
# thousand tickets, played in about half a minute on SQLite (README, "A month of demo history").
DEFAULT_PER_DAY = 30.0
DEFAULT_SEED = 20261128

# (label, log actions counted) per line of the summary
SUMMARY: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "流转",
        (
            ("签收", "sign"),
            ("回退", "return"),
            ("改派", "redispatch"),
            ("驳回回退", "overrule"),
            ("反馈", "feedback"),
            ("核查通过", "verify_pass"),
            ("返工", "verify_fail"),
            ("回访", "callback"),
            ("重办", "reopen"),
        ),
    ),
    (
        "督办",
        (
            ("签收超时", "warn_sign"),
            ("临期", "warn_yellow"),
            ("超期", "warn_red"),
            ("催办", "urge"),
            ("确认", "ack_urge"),
            ("延期申请", "request_extension"),
            ("批准", "approve_extension"),
            ("驳回", "refuse_extension"),
            ("挂账", "suspend"),
        ),
    ),
    (
        "中心",
        (
            ("转人工", "route_manual"),
            ("人工派遣", "dispatch"),
            ("上报", "escalate"),
            ("下派", "hand_down"),
            ("不予受理", "reject"),
            ("合并重复件", "merge"),
            ("指定承办人", "assign"),
        ),
    ),
    (
        "现场",
        (
            ("自行处置", "self_resolve"),
            ("核实/核查/抽查派发", "verify_request"),
            ("回复", "verify_answer"),
            ("超时", "verify_warn"),
        ),
    ),
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = sub.add_parser(
        "demo-history",
        help="play a past month of the demo district's work (tickets through the real workflow)",
    )
    history.add_argument("--month", default="", help="YYYY-MM (default: the previous month)")
    history.add_argument(
        "--per-day",
        type=float,
        default=DEFAULT_PER_DAY,
        help=f"tickets per working day ({DEFAULT_PER_DAY:g})",
    )
    history.add_argument("--seed", type=int, default=DEFAULT_SEED)
    history.set_defaults(func=cmd_demo_history)


def _month(text: str) -> tuple[int, int]:
    from dispatch.demo.history import previous_month

    if not text:
        return previous_month(clock.now())
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if match is None or not 1 <= int(match[2]) <= 12:
        print(f"月份格式应为 YYYY-MM：{text}", file=sys.stderr)
        raise SystemExit(2)
    return int(match[1]), int(match[2])


def cmd_demo_history(args: argparse.Namespace) -> None:
    from dispatch.demo.history import HistoryRefused, play_month

    year, month = _month(args.month)
    if not 0 < args.per_day <= 1000:
        print("--per-day 须在 0 到 1000 之间", file=sys.stderr)
        raise SystemExit(2)
    print(f"正在生成演示历史 {year:04d}-{month:02d}（每个工作日约 {args.per_day:g} 件，种子 {args.seed}）…")
    try:
        report = play_month(year=year, month=month, per_day=args.per_day, seed=args.seed, progress=print)
    except HistoryRefused as refused:
        print(f"未生成演示历史：{refused}", file=sys.stderr)
        raise SystemExit(2) from None
    print_report(report)


def load_on_first_start(*, seed: int = DEFAULT_SEED, per_day: float = DEFAULT_PER_DAY) -> None:
    """`up` on a database it has just seeded: the previous month's history, so the dashboard, KPIs and
    考核 have a month to show. Refusals (a month not over, tickets already there) are printed, not raised."""
    from dispatch.demo.history import HistoryRefused, play_month, previous_month

    year, month = previous_month(clock.now())
    print(
        f"正在生成上个月（{year:04d}-{month:02d}）的演示历史，约需半分钟（跳过：--no-history）…", flush=True
    )
    try:
        report = play_month(year=year, month=month, per_day=per_day, seed=seed)
    except HistoryRefused as refused:
        print(f"未生成演示历史：{refused}")
        return
    print_report(report)


def print_report(report: MonthReport) -> None:
    from dispatch.tickets.models import TICKET_STATE_LABELS, TicketState

    backend = "SQLite" if get_settings().is_sqlite else "PostgreSQL"
    sources = report.sources
    print(
        f"演示历史 {report.month} 已生成：{sum(report.tickets.values())} 张工单（巡查上报 "
        f"{sources.get('patrol', 0)}，12345 来电 {sources.get('hotline', 0)}），{report.moves} 步操作，"
        f"{report.supervision_passes} 次督办巡检，用时 {report.elapsed_s:.1f} s（{backend}）"
    )
    states = "，".join(f"{TICKET_STATE_LABELS[TicketState(s)]} {n}" for s, n in report.tickets.items())
    print(f"  工单状态：{states}")
    for title, items in SUMMARY:
        print(
            f"  {title}：" + "，".join(f"{label} {report.actions.get(action, 0)}" for label, action in items)
        )
    if report.refused:
        print(f"  被拒绝的操作（应为零）：{report.refused}", file=sys.stderr)
