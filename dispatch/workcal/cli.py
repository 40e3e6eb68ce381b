"""`grid-dispatch calendar …`: load a year's State Council schedule, list, show, export, status."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlmodel import col, select

from dispatch.admin_cli import print_report
from dispatch.db import new_session
from dispatch.errors import DispatchError
from dispatch.workcal.apply import apply_calendar_file
from dispatch.workcal.models import CalendarDay, CalendarYear
from dispatch.workcal.service import calendar_status, export_year, local_today


def _format_of(path: Path, given: str | None) -> str:
    if given:
        return given
    return "csv" if path.suffix.lower() == ".csv" else "yaml"


def cmd_load(args: argparse.Namespace) -> None:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"无法读取文件 {path}：{exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    try:
        result = apply_calendar_file(
            text,
            fmt=_format_of(path, args.format),
            year=args.year,
            replace=args.replace,
            dry_run=args.dry_run,
            loaded_by="cli",
        )
    except DispatchError as exc:
        print(f"错误：{exc.message}", file=sys.stderr)
        raise SystemExit(2) from exc
    print_report(result.report)
    if not result.report.ok:
        raise SystemExit(2)
    if args.dry_run:
        print("试运行（--dry-run）：未写入任何数据")
        return
    print(f"{result.year} 年工作日历已载入；重新计算了 {result.recomputed} 张工单的估算期限")


def cmd_list(_: argparse.Namespace) -> None:
    with new_session() as session:
        years = session.exec(select(CalendarYear).order_by(col(CalendarYear.year))).all()
        for y in years:
            print(f"{y.year}  {y.source:<8} {y.loaded_at:%Y-%m-%d %H:%M}Z  {y.loaded_by:<14} {y.title}")
    _print_status()


def cmd_show(args: argparse.Namespace) -> None:
    with new_session() as session:
        if session.get(CalendarYear, args.year) is None:
            print(f"{args.year} 年工作日历未载入", file=sys.stderr)
            raise SystemExit(1)
        for d in session.exec(
            select(CalendarDay).where(CalendarDay.year == args.year).order_by(col(CalendarDay.day))
        ):
            kind = "上班" if d.is_workday else "放假"
            print(f"{d.day}  {'一二三四五六日'[d.day.weekday()]}  {kind}  {d.name}")


def cmd_export(args: argparse.Namespace) -> None:
    with new_session() as session:
        try:
            text = export_year(session, args.year, fmt=args.format)
        except DispatchError as exc:
            print(exc.message, file=sys.stderr)
            raise SystemExit(1) from exc
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _print_status() -> None:
    status = calendar_status(local_today())
    for warning in status["warnings"]:
        print(f"警告：{warning}")


def cmd_status(_: argparse.Namespace) -> None:
    status = calendar_status(local_today())
    print(f"已载入年份：{status['first_year']}–{status['last_year']}")
    _print_status()
    if status["warnings"]:
        raise SystemExit(1)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    calendar = sub.add_parser("calendar", help="工作日历：节假日与调休 (work calendar, make-up days)")
    csub = calendar.add_subparsers(dest="calendar_command", required=True)
    load = csub.add_parser("load", help="validate a year's schedule file (YAML or CSV), then load it")
    load.add_argument("file")
    load.add_argument("--format", choices=["yaml", "csv"], default=None, help="default: from the suffix")
    load.add_argument("--year", type=int, default=None)
    load.add_argument("--replace", action="store_true", help="replace a year that is already loaded")
    load.add_argument("--dry-run", action="store_true")
    load.set_defaults(func=cmd_load)
    csub.add_parser("list", help="years loaded, their source, and warnings").set_defaults(func=cmd_list)
    show = csub.add_parser("show", help="a year's holidays and make-up working days")
    show.add_argument("year", type=int)
    show.set_defaults(func=cmd_show)
    exp = csub.add_parser("export", help="a year in the import format")
    exp.add_argument("year", type=int)
    exp.add_argument("--format", choices=["yaml", "csv"], default="yaml")
    exp.add_argument("-o", "--output", default="")
    exp.set_defaults(func=cmd_export)
    csub.add_parser("status", help="exit 1 when this or next year's calendar is missing").set_defaults(
        func=cmd_status
    )
