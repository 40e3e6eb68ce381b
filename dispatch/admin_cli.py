"""Admin CLI for base data: `grids`, `routing`, `catalog`, `gazetteer`, `people` subcommands.

`dispatch.cli` calls `register(sub)`; until then `python -m dispatch.admin_cli …` runs them alone.
Every import validates the whole file first, prints the report, and exits 2 (writing nothing) on errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from sqlmodel import Session

from dispatch.grids.report import Report


class StderrProgress:
    """A one-line progress display on stderr, redrawn at most every 0.2 s."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._last = 0.0
        self._stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done >= total
        if stage == self._stage and not finished and now - self._last < 0.2:
            return
        self._stage, self._last = stage, now
        pct = 100 * done / total if total else 100.0
        width = 30
        bar = "#" * int(width * pct / 100)
        self.stream.write(f"\r{stage} [{bar:<{width}}] {done}/{total} {pct:5.1f}%")
        if finished:
            self.stream.write("\n")
        self.stream.flush()


def print_report(report: Report, out: TextIO | None = None) -> None:
    for line in report.lines():
        print(line, file=out or sys.stdout)


def _run_import(run: Callable[[Session], Report], dry_run: bool) -> Report:
    """Run one whole-file import in its own transaction: print the report; commit only if it is valid
    and not a dry run (exit status 2 when the file has errors)."""
    from dispatch.db import new_session

    with new_session() as session:
        report = run(session)
        print_report(report)
        if not report.ok:
            raise SystemExit(2)
        if dry_run:
            print("试运行（--dry-run）：未写入任何数据")
        else:
            session.commit()
    return report


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        from zoneinfo import ZoneInfo

        from dispatch.config import get_settings

        value = value.replace(tzinfo=ZoneInfo(get_settings().timezone))
    return value


def cmd_grids_import(args: argparse.Namespace) -> None:
    from dispatch.db import new_session
    from dispatch.grids.importer import import_grid_file

    progress = None if args.quiet else StderrProgress()
    with new_session() as session:
        result = import_grid_file(
            session,
            Path(args.file),
            label=args.label or Path(args.file).name,
            effective_at=_parse_time(args.effective_at) if args.effective_at else None,
            dry_run=args.dry_run,
            tolerance_m2=args.tolerance_m2,
            accept_shift=args.accept_shift,
            progress=progress,
        )
        print_report(result.report)
        if not result.report.ok:
            raise SystemExit(2)
        if result.version_id is None:
            print("试运行（--dry-run）：未写入任何数据")
            return
        session.commit()
    print(f"已导入为网格版本 {result.version_id}（{args.label or Path(args.file).name}）")


def cmd_grids_export(args: argparse.Namespace) -> None:
    from dispatch.db import new_session
    from dispatch.grids.export import export_geojson

    with new_session() as session:
        if args.output and args.output != "-":
            with Path(args.output).open("w", encoding="utf-8") as out:
                export_geojson(session, out, version_id=args.version)
        else:
            export_geojson(session, sys.stdout, version_id=args.version)


def cmd_grids_versions(_: argparse.Namespace) -> None:
    from dispatch.db import new_session
    from dispatch.grids.versions import list_versions

    with new_session() as session:
        for v in list_versions(session):
            mark = "*" if v.current else " "
            state = "启用" if v.active else "停用"
            print(
                f"{mark} {v.id:>4}  {state}  生效 {v.effective_at:%Y-%m-%d %H:%M}"
                f"  网格 {v.grids:>6}  {v.label}"
            )


def cmd_grids_activate(args: argparse.Namespace) -> None:
    from dispatch.db import new_session
    from dispatch.grids.versions import set_active

    with new_session() as session:
        set_active(session, version_id=args.version, active=args.command_name == "activate")
        session.commit()
    print(f"网格版本 {args.version} 已{'启用' if args.command_name == 'activate' else '停用'}")


def _register_grids(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    grids = sub.add_parser("grids", help="网格导入/导出/版本 (grid import, export, versions)")
    gsub = grids.add_subparsers(dest="grids_command", required=True)
    imp = gsub.add_parser("import", help="validate and import a GeoJSON FeatureCollection as a new version")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="print the validation report only")
    imp.add_argument("--label", default="", help="version label (default: the file name)")
    imp.add_argument("--effective-at", default="", help="ISO time the version takes effect (default: now)")
    imp.add_argument("--tolerance-m2", type=float, default=1.0, help="overlap/gap tolerance in m²")
    imp.add_argument(
        "--accept-shift",
        action="store_true",
        help="import even if the whole district moved against the current version (e.g. GCJ-02): a warning",
    )
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.set_defaults(func=cmd_grids_import)
    exp = gsub.add_parser("export", help="export a version (default: current) as GeoJSON")
    exp.add_argument("--version", type=int, default=None)
    exp.add_argument("-o", "--output", default="-")
    exp.set_defaults(func=cmd_grids_export)
    gsub.add_parser("versions", help="list grid versions").set_defaults(func=cmd_grids_versions)
    for name in ("activate", "deactivate"):
        p = gsub.add_parser(name, help=f"{name} a grid version")
        p.add_argument("version", type=int)
        p.set_defaults(func=cmd_grids_activate, command_name=name)


def cmd_routing_explain(args: argparse.Namespace) -> None:
    from dispatch.catalog.explain import explain_point, explain_ticket
    from dispatch.catalog.models import Urgency
    from dispatch.db import new_session
    from dispatch.events.models import RequestType

    with new_session() as session:
        if args.ticket is not None:
            e = explain_ticket(session, ticket_id=args.ticket)
        else:
            lon, lat = args.lon, args.lat
            if args.address:
                from dispatch.gazetteer.matcher import locate_address

                point, candidates = locate_address(session, args.address)
                if point is None:
                    print(f"地址「{args.address}」无法唯一定位，候选：")
                    for m in candidates:
                        print(f"  {m.score:5.1f}  {m.text}  ({m.lon}, {m.lat})  {m.grid_code or ''}")
                    raise SystemExit(2)
                print(f"地址匹配：{point.text}（{point.score:.0f} 分）→ ({point.lon}, {point.lat})")
                lon, lat = point.lon, point.lat
            if lon is None or lat is None or not args.category:
                raise SystemExit("需要 --category 和 --lon/--lat（WGS-84）或 --address，或 --ticket")
            e = explain_point(
                session,
                lon=lon,
                lat=lat,
                category_code=args.category,
                urgency=Urgency(args.urgency),
                request_type=RequestType(args.request_type) if args.request_type else None,
            )
    print(e.summary)
    if e.recorded:
        print("工单实际记录：" + "，".join(f"{k}={v}" for k, v in e.recorded.items()))
    for v in e.candidates:
        mark = {"selected": "✔", "conflict": "✖", "lost": " "}[v.outcome]
        print(
            f" {mark} 规则 #{v.rule_id:<5} {v.category_code:<6}({v.category_level}) @ {v.area_level} "
            f"{v.area_code} {v.area_name} → {v.department_name}：{v.reason}"
        )
    if not e.candidates:
        print("   （此处没有任何规则适用于该类别）")


def _register_routing(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    routing = sub.add_parser("routing", help="派遣解释 (routing explanation)")
    rsub = routing.add_subparsers(dest="routing_command", required=True)
    ex = rsub.add_parser(
        "explain", help="which grid, rule, department and deadline — and why other rules lost"
    )
    ex.add_argument("--lon", type=float)
    ex.add_argument("--lat", type=float)
    ex.add_argument("--address", default="")
    ex.add_argument("--category", default="")
    ex.add_argument("--urgency", choices=["normal", "urgent"], default="normal")
    ex.add_argument(
        "--request-type", choices=["consult", "help", "complaint", "report", "suggestion"], default=None
    )
    ex.add_argument("--ticket", type=int, default=None, help="explain a real ticket by id")
    ex.set_defaults(func=cmd_routing_explain)


def cmd_gazetteer_import(args: argparse.Namespace) -> None:
    from dispatch.demo.gazetteer import CSV_PATH
    from dispatch.gazetteer.importer import import_addresses

    path = CSV_PATH if args.file == "demo" else Path(args.file)
    text = path.read_text(encoding="utf-8-sig")
    report = _run_import(lambda session: import_addresses(session, text, dry_run=args.dry_run), args.dry_run)
    if not args.dry_run:
        print(f"地址库已替换为 {path} 中的 {report.counts.get('points', 0)} 个地址")


def cmd_gazetteer_locate(args: argparse.Namespace) -> None:
    from dispatch.db import new_session
    from dispatch.gazetteer.matcher import locate_address

    with new_session() as session:
        point, candidates = locate_address(session, args.text)
    if point is not None:
        print(f"定位：{point.text}（{point.score:.0f} 分）({point.lon}, {point.lat}) 网格 {point.grid_code}")
    else:
        print("无法唯一定位" + ("，候选：" if candidates else "，地址库中没有相近的地址"))
    for c in candidates:
        note = "" if c.exact else "（门牌不存在，最近门牌）"
        print(f"  {c.score:5.1f}  {c.text}{note}  ({c.lon}, {c.lat})  {c.grid_code or ''}")


def _register_gazetteer(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    gazetteer = sub.add_parser("gazetteer", help="地址库 (address gazetteer)")
    zsub = gazetteer.add_subparsers(dest="gazetteer_command", required=True)
    imp = zsub.add_parser("import", help="replace the gazetteer with a CSV ('demo' = the shipped demo file)")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true")
    imp.set_defaults(func=cmd_gazetteer_import)
    loc = zsub.add_parser("locate", help="match an address text")
    loc.add_argument("text")
    loc.set_defaults(func=cmd_gazetteer_locate)


def cmd_catalog_import(args: argparse.Namespace) -> None:
    from dispatch.catalog.io import import_catalog

    fmt = args.format or ("yaml" if args.file.endswith((".yaml", ".yml")) else "csv")
    text = Path(args.file).read_text(encoding="utf-8-sig")
    report = _run_import(
        lambda session: import_catalog(session, args.kind, text, fmt=fmt, dry_run=args.dry_run), args.dry_run
    )
    if not args.dry_run:
        print(f"已导入 {args.kind}：{report.counts.get('rows', 0)} 行")


def cmd_catalog_export(args: argparse.Namespace) -> None:
    from dispatch.catalog.io import export_catalog
    from dispatch.db import new_session

    with new_session() as session:
        text = export_catalog(session, args.kind, fmt=args.format or "csv")
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _register_catalog(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    catalog = sub.add_parser("catalog", help="部门、类别、派遣规则、诉求时限 (catalog data)")
    csub = catalog.add_subparsers(dest="catalog_command", required=True)
    imp = csub.add_parser("import", help="validate a whole CSV/YAML file, then write it")
    imp.add_argument("kind", choices=["departments", "categories", "rules", "limits"])
    imp.add_argument("file")
    imp.add_argument("--format", choices=["csv", "yaml"], default="")
    imp.add_argument("--dry-run", action="store_true")
    imp.set_defaults(func=cmd_catalog_import)
    exp = csub.add_parser("export", help="export as CSV or YAML")
    exp.add_argument("kind", choices=["departments", "categories", "rules", "limits"])
    exp.add_argument("--format", choices=["csv", "yaml"], default="csv")
    exp.add_argument("-o", "--output", default="-")
    exp.set_defaults(func=cmd_catalog_export)


def cmd_people_import(args: argparse.Namespace) -> None:
    from dispatch.people.service import import_people

    text = Path(args.file).read_text(encoding="utf-8-sig")
    report = _run_import(lambda session: import_people(session, text, dry_run=args.dry_run), args.dry_run)
    if not args.dry_run:
        print(f"已导入人员 {report.counts.get('rows', 0)} 名")


def cmd_people_deactivate(args: argparse.Namespace) -> None:
    from dispatch.db import new_session
    from dispatch.people.service import deactivate

    with new_session() as session:
        grids = deactivate(session, username=args.username, reassign_to=args.reassign_to or None)
        session.commit()
    print(f"账号 {args.username} 已停用（历史记录保留）")
    if grids:
        who = f"已移交给 {args.reassign_to}" if args.reassign_to else "现无网格员，请尽快指定"
        print(f"其负责的 {len(grids)} 个网格{who}：{', '.join(grids)}")


def _register_people(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    people = sub.add_parser("people", help="人员导入与停用 (users: bulk import, deactivation)")
    psub = people.add_subparsers(dest="people_command", required=True)
    imp = psub.add_parser("import", help="validate a whole users CSV, then create/update users and grids")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true")
    imp.set_defaults(func=cmd_people_import)
    off = psub.add_parser("deactivate", help="deactivate an account, keeping its history")
    off.add_argument("username")
    off.add_argument("--reassign-to", default="", help="grid officer who takes over the grids")
    off.set_defaults(func=cmd_people_deactivate)


def cmd_places_import(args: argparse.Namespace) -> None:
    from dispatch.places.service import import_register

    text = Path(args.file).read_text(encoding="utf-8-sig")
    report = _run_import(
        lambda session: import_register(session, text, owner=args.owner, dry_run=args.dry_run), args.dry_run
    )
    if not args.dry_run:
        print(f"已导入 {args.owner} 的场所 {report.counts.get('places', 0)} 个")


def _register_places(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    places = sub.add_parser("places", help="其他部门的场所数据 (places registers of other departments)")
    psub = places.add_subparsers(dest="places_command", required=True)
    imp = psub.add_parser(
        "import", help="replace one register's places with a CSV (kind,name,address,lon,lat,…)"
    )
    imp.add_argument("file")
    imp.add_argument("--owner", required=True, help="the department whose register it is, e.g. 市场监管")
    imp.add_argument("--dry-run", action="store_true")
    imp.set_defaults(func=cmd_places_import)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the base-data subcommands to the `grid-dispatch` parser."""
    _register_people(sub)
    _register_catalog(sub)
    _register_grids(sub)
    _register_routing(sub)
    _register_gazetteer(sub)
    _register_places(sub)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="grid-dispatch", description="网格调度 基础数据管理")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
