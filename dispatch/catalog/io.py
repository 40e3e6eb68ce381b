"""Import and export of departments, categories, routing rules and request-type time limits (CSV or
YAML), whole file validated first.

Departments and categories are upserted by code (nothing is deleted: tickets refer to them); the
rule and limit files are the whole set and replace it. Nothing is written unless every line is valid.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

from sqlmodel import Session, col, delete, select

from dispatch.catalog.models import (
    ANY_CATEGORY,
    URGENCY_LABELS,
    Category,
    Department,
    LimitUnit,
    RoutingRule,
    TimeLimit,
    Urgency,
)
from dispatch.catalog.tabular import Row, read_rows, write_rows
from dispatch.events.models import REQUEST_TYPE_LABELS, RequestType
from dispatch.grids.locator import current_version_id
from dispatch.grids.models import Area, AreaLevel
from dispatch.grids.report import Report

KINDS = ("departments", "categories", "rules", "limits")
DEPARTMENT_COLUMNS = ["code", "name", "kind", "area_code"]
CATEGORY_COLUMNS = [
    "code",
    "name",
    "parent_code",
    "limit_normal",
    "limit_normal_unit",
    "limit_urgent",
    "limit_urgent_unit",
    "default_department_code",
    "needs_verification",
    "active",
]
RULE_COLUMNS = ["category_code", "area_code", "department_code", "note"]
LIMIT_COLUMNS = ["request_type", "category_code", "urgency", "amount", "unit", "note"]
REQUEST_TYPE_WORDS = {label: kind.value for kind, label in REQUEST_TYPE_LABELS.items()}
URGENCY_WORDS = {label: urgency.value for urgency, label in URGENCY_LABELS.items()}
UNIT_WORDS = {"工作小时": "working_hours", "工作日": "working_days", "小时": "hours"}
# Longest sensible limit per unit: a typo like 300 working days must not pass unnoticed.
MAX_AMOUNT = {LimitUnit.WORKING_HOURS: 240, LimitUnit.WORKING_DAYS: 60, LimitUnit.HOURS: 720}
_DEPT_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_TRUE = {"true", "1", "yes", "是", "y"}
_FALSE = {"false", "0", "no", "否", "n", ""}


def import_catalog(
    session: Session, kind: str, text: str, *, fmt: str = "csv", dry_run: bool = False
) -> Report:
    """Validate the whole file of one kind; write it (flush only) when every line is valid and not dry_run."""
    report = Report(unit="行")
    if kind == "departments":
        rows = read_rows(text, fmt=fmt, required=("code", "name"), report=report)
        apply = _departments(session, rows, report)
    elif kind == "categories":
        rows = read_rows(
            text, fmt=fmt, required=("code", "name", "limit_normal", "limit_urgent"), report=report
        )
        apply = _categories(session, rows, report)
    elif kind == "rules":
        rows = read_rows(text, fmt=fmt, required=RULE_COLUMNS[:3], report=report)
        apply = _rules(session, rows, report)
    elif kind == "limits":
        rows = read_rows(text, fmt=fmt, required=LIMIT_COLUMNS[:5], report=report)
        apply = _limits(session, rows, report)
    else:
        raise ValueError(f"unknown catalog kind {kind}")
    report.counts["rows"] = len(rows)
    if not rows and report.ok:
        report.error("no_rows", "文件中没有记录")
    if report.ok and not dry_run:
        apply()
        session.flush()
    return report


def export_catalog(session: Session, kind: str, *, fmt: str = "csv") -> str:
    """One kind of catalog data as CSV or YAML, in the columns `import_catalog` reads."""
    departments = {d.id: d.code for d in session.exec(select(Department))}
    if kind == "departments":
        records = [d.model_dump() for d in session.exec(select(Department).order_by(col(Department.code)))]
        return write_rows(records, DEPARTMENT_COLUMNS, fmt=fmt)
    if kind == "categories":
        records = [
            c.model_dump(mode="json") for c in session.exec(select(Category).order_by(col(Category.code)))
        ]
        return write_rows(records, CATEGORY_COLUMNS, fmt=fmt)
    if kind == "limits":
        limits = session.exec(
            select(TimeLimit).order_by(
                col(TimeLimit.request_type), col(TimeLimit.category_code), col(TimeLimit.urgency)
            )
        )
        return write_rows([t.model_dump(mode="json") for t in limits], LIMIT_COLUMNS, fmt=fmt)
    rules = session.exec(
        select(RoutingRule).order_by(
            col(RoutingRule.category_code), col(RoutingRule.area_code), col(RoutingRule.id)
        )
    )
    records = [{**r.model_dump(), "department_code": departments.get(r.department_id)} for r in rules]
    return write_rows(records, RULE_COLUMNS, fmt=fmt)


def _first_lines(rows: list[Row], key: str, report: Report, what: str) -> dict[str, Row]:
    seen: dict[str, Row] = {}
    for row in rows:
        value = row.get(key)
        if value in seen:
            report.error(
                "duplicate", f"{what}「{value}」重复：与第 {seen[value].line} 行相同", where=row.line
            )
        else:
            seen[value] = row
    return seen


def _departments(session: Session, rows: list[Row], report: Report) -> Callable[[], None]:
    version_id = current_version_id(session)
    levels = dict(session.exec(select(Area.code, Area.level).where(Area.version_id == version_id)).all())
    for row in rows:
        if not _DEPT_CODE.match(row.get("code")):
            report.error(
                "bad_code", f"部门编码「{row.get('code')}」应为小写字母开头的字母/数字/下划线", where=row.line
            )
        if not row.get("name") or len(row.get("name")) > 64:
            report.error("bad_name", "部门名称为空或超过 64 字", where=row.line)
        if row.get("kind") not in ("", "department", "street", "centre"):
            report.error(
                "bad_kind", f"类型「{row.get('kind')}」应为 department、street 或 centre", where=row.line
            )
        area = row.get("area_code")
        if (row.get("kind") == "centre") != bool(area):
            report.error("centre_area", "中心（centre）须填写 area_code，其他部门不填", where=row.line)
        elif area and levels.get(area) not in (AreaLevel.STREET, AreaLevel.COMMUNITY):
            report.error("bad_area", f"area_code {area} 不是当前网格版本中的街道或社区", where=row.line)
    by_code = _first_lines(rows, "code", report, "部门编码")
    _first_lines([r for r in rows if r.get("area_code")], "area_code", report, "中心辖区")
    existing = {d.code: d for d in session.exec(select(Department))}
    taken = {d.area_code: d.code for d in existing.values() if d.area_code}
    for code, row in by_code.items():
        holder = taken.get(row.get("area_code"))
        if row.get("kind") == "centre" and holder is not None and holder != code:
            report.error(
                "area_taken", f"辖区 {row.get('area_code')} 已是中心 {holder} 的辖区", where=row.line
            )
    for code in sorted(set(existing) - set(by_code)):
        report.warning("kept", f"部门 {code} 不在文件中，保留不变（部门不会被导入删除）")

    def apply() -> None:
        for code, row in by_code.items():
            department = existing.get(code) or Department(code=code, name="")
            department.name, department.kind = row.get("name"), row.get("kind") or "department"
            department.area_code = row.get("area_code") or None
            session.add(department)

    return apply


def _int(row: Row, name: str, report: Report) -> int:
    value = row.get(name)
    if not value.isdigit():
        report.error("bad_limit", f"{name}「{value}」应为非负整数", where=row.line)
        return 0
    return int(value)


def _bool(row: Row, name: str, report: Report, default: bool) -> bool:
    value = row.get(name).lower()
    if name not in row.fields or value == "":
        return default
    if value not in _TRUE | _FALSE:
        report.error("bad_boolean", f"{name}「{value}」应为 true/false", where=row.line)
    return value in _TRUE


def _unit(row: Row, name: str, report: Report, default: LimitUnit) -> LimitUnit:
    value = row.get(name)
    if not value:
        return default
    try:
        return LimitUnit(value)
    except ValueError:
        units = "/".join(u.value for u in LimitUnit)
        report.error("bad_unit", f"{name}「{value}」应为 {units}", where=row.line)
        return default


def _categories(session: Session, rows: list[Row], report: Report) -> Callable[[], None]:
    by_code = _first_lines(rows, "code", report, "类别编码")
    existing = {c.code: c for c in session.exec(select(Category))}
    departments = set(session.exec(select(Department.code)))
    parsed: list[Category] = []
    for row in by_code.values():
        code, parent = row.get("code"), row.get("parent_code") or None
        if not (code.isdigit() and len(code) in (2, 5)):
            report.error("bad_code", f"类别编码「{code}」应为 2 位大类或 5 位小类", where=row.line)
        elif len(code) == 5 and parent != code[:2]:
            report.error("bad_parent", f"小类 {code} 的大类应为 {code[:2]}（实为 {parent}）", where=row.line)
        elif len(code) == 2 and parent:
            report.error("bad_parent", f"大类 {code} 不应有上级", where=row.line)
        if parent and parent not in by_code and parent not in existing:
            report.error("unknown_parent", f"大类 {parent} 不存在（文件和系统中都没有）", where=row.line)
        default_department = row.get("default_department_code") or None
        if default_department and default_department not in departments:
            report.error("unknown_department", f"默认部门 {default_department} 不存在", where=row.line)
        parsed.append(
            Category(
                code=code,
                name=row.get("name"),
                parent_code=parent,
                limit_normal=_int(row, "limit_normal", report),
                limit_normal_unit=_unit(row, "limit_normal_unit", report, LimitUnit.WORKING_DAYS),
                limit_urgent=_int(row, "limit_urgent", report),
                limit_urgent_unit=_unit(row, "limit_urgent_unit", report, LimitUnit.WORKING_HOURS),
                default_department_code=default_department,
                needs_verification=_bool(row, "needs_verification", report, False),
                active=_bool(row, "active", report, True),
            )
        )

    def apply() -> None:
        for category in parsed:
            target = existing.get(category.code)
            if target is None:
                session.add(category)
                continue
            for name in CATEGORY_COLUMNS[1:]:
                setattr(target, name, getattr(category, name))
            session.add(target)

    return apply


def _rules(session: Session, rows: list[Row], report: Report) -> Callable[[], None]:
    categories = set(session.exec(select(Category.code)))
    departments = {d.code: d.id for d in session.exec(select(Department))}
    version_id = current_version_id(session)
    codes = {r.get("area_code") for r in rows}
    areas = set(
        session.exec(select(Area.code).where(Area.version_id == version_id, col(Area.code).in_(codes)))
    )
    seen: dict[tuple[str, str], Row] = {}
    parsed: list[RoutingRule] = []
    for row in rows:
        category, area, department = (
            row.get("category_code"),
            row.get("area_code"),
            row.get("department_code"),
        )
        ok = True
        if category not in categories:
            report.error("unknown_category", f"规则引用了不存在的类别 {category}", where=row.line)
            ok = False
        if area not in areas:
            report.error("unknown_area", f"规则引用了当前网格版本中不存在的区域 {area}", where=row.line)
            ok = False
        if department not in departments:
            report.error("unknown_department", f"规则引用了不存在的部门 {department}", where=row.line)
            ok = False
        first = seen.get((category, area))
        if first is not None:
            if first.get("department_code") == department:
                report.error("duplicate", f"与第 {first.line} 行重复", where=row.line)
            else:
                report.error(
                    "conflict",
                    f"与第 {first.line} 行同样具体（类别 {category}、区域 {area}）但部门不同"
                    f"（{first.get('department_code')} 与 {department}）：派遣时无法决定",
                    where=row.line,
                )
            ok = False
        seen.setdefault((category, area), row)
        if ok:
            parsed.append(
                RoutingRule(
                    category_code=category,
                    area_code=area,
                    department_id=departments[department] or 0,
                    note=row.get("note")[:255],
                )
            )

    def apply() -> None:
        session.execute(delete(RoutingRule).where(col(RoutingRule.id).is_not(None)))
        session.add_all(parsed)

    return apply


def _word(row: Row, name: str, words: dict[str, str], allowed: type[StrEnum], report: Report) -> str | None:
    """An enum value given in English or Chinese (咨询, 紧急, 工作日 …); None (reported) otherwise."""
    value = words.get(row.get(name), row.get(name))
    if value in {m.value for m in allowed}:
        return value
    choices = "/".join([*(m.value for m in allowed), *words])
    report.error(f"bad_{name}", f"{name}「{row.get(name)}」应为 {choices}", where=row.line)
    return None


def _limits(session: Session, rows: list[Row], report: Report) -> Callable[[], None]:
    """The whole set of request-type limits; it replaces the current set."""
    categories = set(session.exec(select(Category.code)))
    seen: dict[tuple[str, str, str], Row] = {}
    parsed: list[TimeLimit] = []
    for row in rows:
        request_type = _word(row, "request_type", REQUEST_TYPE_WORDS, RequestType, report)
        urgency = _word(row, "urgency", URGENCY_WORDS, Urgency, report)
        unit = _word(row, "unit", UNIT_WORDS, LimitUnit, report)
        category = row.get("category_code")
        if category != ANY_CATEGORY and category not in categories:
            report.error("unknown_category", f"类别 {category} 不存在（全部类别请写 *）", where=row.line)
            category = ""
        amount = _int(row, "amount", report)
        if unit and (amount < 1 or amount > MAX_AMOUNT[LimitUnit(unit)]):
            report.error(
                "bad_amount",
                f"时限 {amount} 应在 1 至 {MAX_AMOUNT[LimitUnit(unit)]} {unit} 之间",
                where=row.line,
            )
        if not (request_type and urgency and unit and category):
            continue
        key = (request_type, category, urgency)
        if key in seen:
            report.error(
                "duplicate", f"与第 {seen[key].line} 行重复（同一诉求类型、类别和紧急程度）", where=row.line
            )
            continue
        seen[key] = row
        parsed.append(
            TimeLimit(
                request_type=RequestType(request_type),
                category_code=category,
                urgency=Urgency(urgency),
                amount=amount,
                unit=LimitUnit(unit),
                note=row.get("note")[:255],
            )
        )

    def apply() -> None:
        session.execute(delete(TimeLimit).where(col(TimeLimit.id).is_not(None)))
        session.add_all(parsed)

    return apply
