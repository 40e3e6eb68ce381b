"""Loading the work calendar: from the calendar package for the years it knows, or from a file of the
State Council's notice (国务院办公厅关于某年部分节假日安排的通知) that an admin loads, validated first.

File formats (UTF-8):

YAML::

    year: 2027
    title: 国务院办公厅关于2027年部分节假日安排的通知
    holidays:                      # 放假 (every day of the break, weekends included)
      - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
      - {name: 春节, from: 2027-02-06, to: 2027-02-13}
    workdays:                      # 调休上班 (weekend days that are working days)
      - {name: 春节, date: 2027-02-20}

CSV (one day a line; kind is off/放假/休 or work/上班/班)::

    date,kind,name
    2027-01-01,off,元旦

A year is complete when each of the seven statutory holidays (元旦, 春节, 清明节, 劳动节, 端午节, 中秋节,
国庆节) has at least one day off; every date lies in the year; no day is both off and on; a make-up
working day falls on a weekend.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import delete
from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.config import get_settings
from dispatch.db import after_commit
from dispatch.errors import InvalidInput, NotFound
from dispatch.grids.report import Report
from dispatch.workcal.calendar import current_calendar, forget_snapshot
from dispatch.workcal.models import CalendarDay, CalendarYear

# The seven statutory holidays, with the words a name may use for each (Chinese, English of the package).
FESTIVALS: dict[str, tuple[str, ...]] = {
    "元旦": ("元旦", "new year"),
    "春节": ("春节", "spring festival"),
    "清明节": ("清明", "tomb-sweeping"),
    "劳动节": ("劳动", "五一", "labour day"),
    "端午节": ("端午", "dragon boat"),
    "中秋节": ("中秋", "mid-autumn"),
    "国庆节": ("国庆", "national day"),
}
OFF_KINDS = {"off", "holiday", "放假", "休", "休息"}
WORK_KINDS = {"work", "workday", "上班", "班", "调休上班"}
MAX_BREAK_DAYS = 15


@dataclass
class ParsedYear:
    """A year's exceptions read from a file: day → (is_workday, holiday name)."""

    year: int | None = None
    title: str = ""
    days: dict[date, tuple[bool, str]] = field(default_factory=dict)
    where: dict[date, int] = field(default_factory=dict)  # the entry (YAML) or line (CSV) of each day


def festival_of(name: str) -> str | None:
    """The statutory holiday a day's name belongs to (中秋节、国庆节 counts as both; first one here)."""
    lowered = name.lower()
    for festival, words in FESTIVALS.items():
        if any(w in lowered for w in words):
            return festival
    return None


def _date(value: Any, report: Report, where: int, what: str) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        report.error("bad_date", f"{what}不是有效日期（YYYY-MM-DD）：{value!r}", where=where)
        return None


def _add(parsed: ParsedYear, report: Report, day: date, workday: bool, name: str, where: int) -> None:
    known = parsed.days.get(day)
    if known is not None and known[0] != workday:
        report.error("off_and_on", f"{day} 既是放假日又是调休上班日", where=where)
        return
    parsed.days[day] = (workday, name)
    parsed.where.setdefault(day, where)


def _parse_yaml(text: str, report: Report) -> ParsedYear:
    parsed = ParsedYear()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        report.error("bad_file", f"YAML 格式错误：{exc}")
        return parsed
    if not isinstance(data, dict):
        report.error("bad_file", "文件应为含 year、holidays、workdays 的映射")
        return parsed
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool):
        report.error("bad_year", f"year 须为四位年份：{year!r}")
    else:
        parsed.year = year
    parsed.title = str(data.get("title") or "")[:255]
    for key, workday in (("holidays", False), ("workdays", True)):
        entries = data.get(key) or []
        if not isinstance(entries, list):
            report.error("bad_file", f"{key} 须为列表")
            continue
        for n, entry in enumerate(entries, start=1):
            what = f"{key} 第 {n} 条"
            if not isinstance(entry, dict) or not str(entry.get("name") or "").strip():
                report.error("bad_entry", f"{what}须含 name 以及 date 或 from/to", where=n)
                continue
            name = str(entry["name"]).strip()[:32]
            if "date" in entry:
                first = last = _date(entry["date"], report, n, f"{what}的 date ")
            else:
                first = _date(entry.get("from"), report, n, f"{what}的 from ")
                last = _date(entry.get("to", entry.get("from")), report, n, f"{what}的 to ")
            if first is None or last is None:
                continue
            if last < first or (last - first).days >= MAX_BREAK_DAYS:
                report.error("bad_range", f"{what}的日期范围无效：{first} 至 {last}", where=n)
                continue
            day = first
            while day <= last:
                _add(parsed, report, day, workday, name, n)
                day += timedelta(days=1)
    return parsed


def _parse_csv(text: str, report: Report) -> ParsedYear:
    parsed = ParsedYear()
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if not reader.fieldnames or not {"date", "kind"} <= {f.strip() for f in reader.fieldnames}:
        report.error("bad_header", "CSV 表头须为 date,kind,name")
        return parsed
    for n, row in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        day = _date(row.get("date"), report, n, "date ")
        kind = row.get("kind", "").lower()
        if kind not in OFF_KINDS | WORK_KINDS:
            report.error("bad_kind", f"kind 须为 off（放假）或 work（上班）：{kind!r}", where=n)
            continue
        if day is not None:
            _add(parsed, report, day, kind in WORK_KINDS, row.get("name", "")[:32], n)
    years = {d.year for d in parsed.days}
    if len(years) == 1:
        parsed.year = years.pop()
    return parsed


def parse_file(text: str, *, fmt: str, year: int | None = None) -> tuple[ParsedYear, Report]:
    """Read and check a whole calendar file; the report lists every problem (the file is all or nothing)."""
    report = Report(unit="条" if fmt == "yaml" else "行")
    parsed = _parse_yaml(text, report) if fmt == "yaml" else _parse_csv(text, report)
    if year is not None:
        if parsed.year is not None and parsed.year != year:
            report.error("bad_year", f"文件中的年份 {parsed.year} 与指定年份 {year} 不一致")
        parsed.year = year
    if parsed.year is None:
        if not report.errors:
            report.error("bad_year", "无法确定年份（CSV 中的日期须同属一年，或用 --year 指定）")
        return parsed, report
    if not 2000 <= parsed.year <= 2100:
        report.error("bad_year", f"年份超出范围：{parsed.year}")
    _check_year(parsed, report)
    report.counts.update(
        off=sum(1 for w, _ in parsed.days.values() if not w),
        work=sum(1 for w, _ in parsed.days.values() if w),
    )
    return parsed, report


def _check_year(parsed: ParsedYear, report: Report) -> None:
    for day, (workday, name) in sorted(parsed.days.items()):
        where = parsed.where.get(day)
        if day.year != parsed.year:
            report.error("outside_year", f"{day} 不在 {parsed.year} 年内", where=where)
        if workday and day.weekday() < 5:
            report.error("makeup_on_weekday", f"{day}（{name}）是工作日，不能作为调休上班日", where=where)
    off_names = [name.lower() for workday, name in parsed.days.values() if not workday]
    # A joined break (中秋节、国庆节) names both festivals, so look for every festival's words.
    present = {f for f, words in FESTIVALS.items() if any(w in n for n in off_names for w in words)}
    missing = [f for f in FESTIVALS if f not in present]
    if missing:
        report.error(
            "incomplete_year",
            f"{parsed.year} 年日历不完整：缺少 {'、'.join(missing)} 的放假安排（须包含全部七个法定节假日）",
        )


def load_year(
    session: Session,
    parsed: ParsedYear,
    *,
    source: str,
    loaded_by: str = "",
    replace: bool = False,
) -> CalendarYear:
    """Write a checked year (its exceptions replace any earlier ones when `replace`); flushes only."""
    assert parsed.year is not None
    existing = session.get(CalendarYear, parsed.year)
    if existing is not None and not replace:
        raise InvalidInput(
            f"{parsed.year} 年日历已存在（来源：{existing.source}）；如需替换请使用 replace", field="replace"
        )
    session.execute(delete(CalendarDay).where(col(CalendarDay.year) == parsed.year))
    row = existing or CalendarYear(year=parsed.year, source=source, loaded_at=clock.now())
    row.source, row.title, row.loaded_at, row.loaded_by = source, parsed.title, clock.now(), loaded_by
    session.add(row)
    session.flush()
    session.add_all(
        CalendarDay(day=day, year=parsed.year, is_workday=workday, name=name)
        for day, (workday, name) in sorted(parsed.days.items())
    )
    session.flush()
    after_commit(session, forget_snapshot)
    return row


def sync_from_package(session: Session) -> list[int]:
    """Add every year the calendar package knows and the database lacks (never overwrites a year).

    Returns the years added. Runs after every migration, so a package upgrade brings its new years.
    """
    import chinese_calendar
    from chinese_calendar import constants

    by_year: dict[int, ParsedYear] = {}
    for table, workday in ((constants.holidays, False), (constants.workdays, True)):
        for day, name in table.items():
            parsed = by_year.setdefault(day.year, ParsedYear(year=day.year))
            festival = festival_of(str(name)) or str(name)
            parsed.days[day] = (workday, festival[:32])
    known = set(session.exec(select(CalendarYear.year)).all())
    added = sorted(set(by_year) - known)
    version = getattr(chinese_calendar, "__version__", "")
    for year in added:
        by_year[year].title = f"chinesecalendar {version}".strip()
        load_year(session, by_year[year], source="package", loaded_by="chinesecalendar")
    return added


def calendar_status(today: date) -> dict[str, Any]:
    """Which years the district's calendar covers, and the warnings an admin must act on.

    The current year missing is always a warning; next year's missing is one from 1 December on (the
    State Council publishes the schedule in November).
    """
    calendar = current_calendar()
    warnings: list[str] = []
    if not calendar.knows(today.year):
        warnings.append(
            f"缺少 {today.year} 年工作日历：期限暂按周一至周五估算（已标记为估算），"
            "请管理员载入国务院节假日安排（grid-dispatch calendar load）"
        )
    if today.month == 12 and not calendar.knows(today.year + 1):
        warnings.append(
            f"{today.year + 1} 年工作日历尚未载入：请在元旦前载入国务院办公厅节假日安排通知"
            "（grid-dispatch calendar load 文件），否则明年的期限只能按周一至周五估算"
        )
    years = sorted(calendar.years)
    return {
        "first_year": years[0] if years else None,
        "last_year": years[-1] if years else None,
        "current_year_loaded": calendar.knows(today.year),
        "next_year_loaded": calendar.knows(today.year + 1),
        "warnings": warnings,
    }


def local_today() -> date:
    """Today in the district's time zone (the calendar's days are local days)."""
    return clock.now().astimezone(ZoneInfo(get_settings().timezone)).date()


def export_year(session: Session, year: int, *, fmt: str) -> str:
    """A loaded year in the import format: YAML (one entry a day) or CSV. Raises NotFound."""
    row = session.get(CalendarYear, year)
    if row is None:
        raise NotFound(f"{year} 年工作日历未载入")
    days = session.exec(select(CalendarDay).where(CalendarDay.year == year).order_by(col(CalendarDay.day)))
    rows = [(d.day, d.is_workday, d.name) for d in days]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["date", "kind", "name"])
        writer.writerows([(d.isoformat(), "work" if w else "off", n) for d, w, n in rows])
        return out.getvalue()
    data = {
        "year": year,
        "title": row.title,
        "holidays": [{"name": n, "date": d} for d, w, n in rows if not w],
        "workdays": [{"name": n, "date": d} for d, w, n in rows if w],
    }
    return str(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
