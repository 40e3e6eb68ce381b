"""考核 scores: each unit's KPI rates weighted by the template, minus deductions, ranked, with the change
from the previous period — all from the ticket log.

Population and attribution are the KPIs' (dispatch.stats.service): tickets created in the period with
every fact their log holds, each fact counted for whoever held the ticket at that row (`holders()`).
Units: 部门 the department holding the ticket, 街道 / 社区 the street / community of its grid, 网格员 the
duty officer (Area.duty_officer_id, current grid version) of its grid — an officer's figures are those
of their grids added together (counts, then rates).

Score of a unit, with its section of the template:
  value_i  = rate_i, or 1 − rate_i where lower is better (回退率, 返工率, 延期率, 重复投诉率)
  base     = Σ weight_i × value_i × 100 / Σ weight_i, both sums over the rates that have data
  deducted = Σ over deductions of min(points × events, cap)
  score    = max(0, base − deducted), rounded half up to 2 decimals.
Rates enter as the KPI table shows them (4 decimals), so a reader can recompute a score from the sheet;
the arithmetic is exact (fractions) until the final rounding.

无数据 (a rate whose denominator is 0, e.g. 满意率 of a unit nobody called back): that rate is left out
and the other rates' weights are scaled up to 100 — the unit is judged on what it did, neither given the
missing rate's full marks nor charged for it. A unit none of whose weighted rates has data has no score
and no rank. Each row lists its `missing_rates`.

Deduction events (rows of the same tickets, charged to the holder at that row):
  overdue 超期           warn_red rows (supervision's red card at the deadline)
  urge 督办              urge rows sent by a person (actor set; the automatic 催办 at the red card is not)
  unsatisfied 不满意     callback rows with satisfaction unsatisfied
  overruled_return 回退被驳回   overrule rows (the centre ruled a department's return unjustified;
                         the department that returned still holds the ticket at that row)

Ranking: by score, highest first; equal scores (to 2 decimals) share a rank (1, 2, 2, 4). The change
compares with the previous period of the same length: the month before for a month, else the span of
the same length ending where this one starts (score_change = score − previous; rank_change = previous
rank − rank, positive when a unit moved up).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.auth.models import User
from dispatch.catalog.models import Department
from dispatch.config import get_settings
from dispatch.errors import InvalidInput, NotFound
from dispatch.grids.locator import current_version_id
from dispatch.grids.models import Area, AreaLevel
from dispatch.grids.service import names_for
from dispatch.scoring.models import ScoringTemplate
from dispatch.scoring.template import RATES, UNIT_LABELS, Section, Template, UnitKind
from dispatch.stats.rollup import counts
from dispatch.stats.service import GroupBy, Holder, KpiRow, holders, logs_of
from dispatch.tickets.models import Action, Satisfaction, Ticket, TicketLog

NO_DATA_RULE = "rescale"
NO_DATA_NOTE = (
    "无数据不计分：分母为 0 的指标（如无人回访时的满意率）不参与计分，"
    "其余有数据指标的权重按比例折算到合计 100；所有计分指标都无数据的单位不计分、不排名。"
)
FORMULA = "得分 = Σ 权重 × 指标得分率 × 100 / Σ 有数据指标的权重 − Σ min(每次扣分 × 次数, 上限)，最低 0 分"
GROUPING: dict[UnitKind, GroupBy] = {
    UnitKind.DEPARTMENT: GroupBy.DEPARTMENT,
    UnitKind.STREET: GroupBy.STREET,
    UnitKind.COMMUNITY: GroupBy.COMMUNITY,
    UnitKind.OFFICER: GroupBy.GRID,  # an officer's figures: their grids' rows added together
}
DEDUCTION_ACTIONS = (Action.WARN_RED, Action.URGE, Action.CALLBACK, Action.OVERRULE)


# --- templates ------------------------------------------------------------------------------------


def save_template(session: Session, template: Template, *, source: str, by: str) -> ScoringTemplate:
    """Store the template as a new version (the one in force from now on); flushes."""
    row = ScoringTemplate(
        title=template.title, source=source, created_at=clock.now(), created_by=by, body=template.to_json()
    )
    session.add(row)
    session.flush()
    return row


def template_version(session: Session, version: int | None = None) -> ScoringTemplate:
    """The given version, or (None) the one in force: the newest."""
    if version is not None:
        row = session.get(ScoringTemplate, version)
        if row is None:
            raise NotFound(f"考核模板版本 {version} 不存在", field="version")
        return row
    newest = session.exec(select(ScoringTemplate).order_by(col(ScoringTemplate.id).desc())).first()
    if newest is None:
        raise NotFound(
            "尚未配置考核模板：请管理员导入（/api/admin/scoring-templates/import）", field="version"
        )
    return newest


def versions(session: Session) -> list[ScoringTemplate]:
    return list(session.exec(select(ScoringTemplate).order_by(col(ScoringTemplate.id).desc())))


# --- periods --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    date_from: datetime
    date_to: datetime
    previous_from: datetime
    previous_to: datetime


def period(*, month: str | None, date_from: datetime | None, date_to: datetime | None) -> Period:
    """The period asked for (a month `YYYY-MM`, or [date_from, date_to); neither: this month) and the
    previous one of the same length (the month before, or the same span just before)."""
    if (date_from is None) != (date_to is None):
        raise InvalidInput(
            "date_from 与 date_to 须同时给出", field="date_to" if date_to is None else "date_from"
        )
    if date_from is not None and date_to is not None:
        if month is not None:
            raise InvalidInput("month 与 date_from/date_to 只能给其一", field="month")
        if date_to <= date_from:
            raise InvalidInput("时间段的结束须晚于开始", field="date_to")
        return Period(date_from, date_to, date_from - (date_to - date_from), date_from)
    zone = ZoneInfo(get_settings().timezone)
    if month is None:
        today = clock.now().astimezone(zone)
        year, number = today.year, today.month
    else:
        try:
            year, number = (int(part) for part in month.split("-"))
            datetime(year, number, 1)
        except ValueError:
            raise InvalidInput(f"month 须为 YYYY-MM：{month!r}", field="month") from None
        if not 1900 <= year <= 2199:
            raise InvalidInput("月份须在 1900 至 2199 年之间", field="month")
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    before = datetime(year - (number == 1), (number - 2) % 12 + 1, 1, tzinfo=zone)
    return Period(start, end, before, start)


# --- figures --------------------------------------------------------------------------------------


@dataclass
class Unit:
    """One scored unit's figures for a period: KPI counts and deduction events."""

    key: str
    name: str = ""
    row: KpiRow | None = None
    events: Counter[str] = field(default_factory=Counter)
    areas: list[str] = field(default_factory=list)  # an officer's grids; a street's or community's code

    def rates(self) -> dict[str, Any]:
        return KpiRow(key=self.key, name=self.name).as_dict() if self.row is None else self.row.as_dict()


def deduction_event(entry: TicketLog) -> str | None:
    """Which deduction a log row is an event of, if any."""
    if entry.action is Action.WARN_RED:
        return "overdue"
    if entry.action is Action.URGE and entry.actor_id is not None:
        return "urge"
    if entry.action is Action.CALLBACK and entry.data.get("satisfaction") == Satisfaction.UNSATISFIED.value:
        return "unsatisfied"
    if entry.action is Action.OVERRULE:
        return "overruled_return"
    return None


def holder_key(kind: UnitKind, holder: Holder, officer_of: Mapping[str, str]) -> str:
    """The unit a row counts for, keyed as the KPI rows key it ("" for nobody)."""
    grid = holder.grid_code or ""
    if kind is UnitKind.DEPARTMENT:
        return str(holder.department_id or "")
    if kind is UnitKind.STREET:
        return grid[:9]
    if kind is UnitKind.COMMUNITY:
        return grid[:12]
    return officer_of.get(grid, "")


def duty_officers(session: Session) -> dict[str, tuple[str, str]]:
    """Grid code → (username, full name) of its duty officer, in the current grid version."""
    found = session.exec(
        select(Area.code, User.username, User.full_name)
        .join(User, col(User.id) == col(Area.duty_officer_id))
        .where(Area.version_id == current_version_id(session), Area.level == AreaLevel.GRID)
    ).all()
    return {code: (username, name) for code, username, name in found}


def deduction_counts(
    session: Session, *, kind: UnitKind, date_from: datetime, date_to: datetime, officer_of: Mapping[str, str]
) -> dict[str, Counter[str]]:
    """Unit key → deduction → events, over the tickets created in [date_from, date_to) (only the tickets
    with a deduction row are replayed)."""
    with_events = (
        select(TicketLog.ticket_id)
        .join(Ticket, col(Ticket.id) == col(TicketLog.ticket_id))
        .where(
            col(Ticket.created_at) >= date_from,
            col(Ticket.created_at) < date_to,
            col(TicketLog.action).in_(DEDUCTION_ACTIONS),
        )
        .distinct()
    )
    ids = sorted(session.exec(with_events).all())
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        entries = logs_of(session, chunk)
        for ticket in session.exec(select(Ticket).where(col(Ticket.id).in_(chunk))):
            rows = entries[ticket.id or 0]
            for entry, holder in zip(rows, holders(ticket, rows), strict=True):
                event = deduction_event(entry)
                key = holder_key(kind, holder, officer_of) if event else ""
                if event and key:
                    found[key][event] += 1
    return found


def unit_figures(
    session: Session, *, kind: UnitKind, date_from: datetime, date_to: datetime
) -> dict[str, Unit]:
    """Every unit of the kind that held a ticket created in [date_from, date_to) (or has a deduction
    event there), with its KPI counts and events."""
    officers = duty_officers(session) if kind is UnitKind.OFFICER else {}
    officer_of = {grid: username for grid, (username, _) in officers.items()}
    units: dict[str, Unit] = {}
    for key, row in counts(session, group_by=GROUPING[kind], date_from=date_from, date_to=date_to).items():
        if row.counts["total"] <= 0:
            continue
        unit_key = officer_of.get(key, "") if kind is UnitKind.OFFICER else key
        if not unit_key:
            continue  # 未派遣 / 未定位 / a grid without a duty officer: nobody to score
        unit = units.setdefault(unit_key, Unit(unit_key))
        if unit.row is None:
            unit.row = KpiRow(key=unit_key, name="")
        for name, value in row.counts.items():
            unit.row.counts[name] += value
        unit.areas.append(key)
    events = deduction_counts(session, kind=kind, date_from=date_from, date_to=date_to, officer_of=officer_of)
    for key, counted in events.items():
        units.setdefault(key, Unit(key)).events.update(counted)
    _name(session, kind, units, officers)
    return units


def _name(
    session: Session, kind: UnitKind, units: dict[str, Unit], officers: Mapping[str, tuple[str, str]]
) -> None:
    if kind is UnitKind.DEPARTMENT:
        names = {str(i): n for i, n in session.exec(select(Department.id, Department.name))}
    elif kind is UnitKind.OFFICER:
        names = {username: name for username, name in officers.values()}
        grids = defaultdict(list)
        for grid, (username, _) in officers.items():
            grids[username].append(grid)
        for key, unit in units.items():
            unit.areas = sorted(grids.get(key, unit.areas))
    else:
        names = names_for(session, set(units))
        for key, unit in units.items():
            unit.areas = [key]
    for key, unit in units.items():
        unit.name = names.get(key, key)


# --- scores ---------------------------------------------------------------------------------------


def _half_up(value: Fraction) -> float:
    return math.floor(value * 100 + Fraction(1, 2)) / 100


def score_unit(section: Section, unit: Unit) -> dict[str, Any]:
    """One unit's score under one section of the template (the formula in the module docstring)."""
    kpis = unit.rates()
    rates = {name: kpis[name] for name in section.rates}
    present = {name: Fraction(str(w)) for name, w in section.rates.items() if rates[name] is not None}
    weight_total = sum(present.values(), Fraction(0))
    points: dict[str, Fraction | None] = dict.fromkeys(section.rates)
    base: Fraction | None = None
    if weight_total > 0:
        for name, weight in present.items():
            value = Fraction(str(rates[name]))
            if RATES[name].lower_is_better:
                value = 1 - value
            points[name] = weight * value * 100 / weight_total
        base = sum((p for p in points.values() if p is not None), Fraction(0))
    deductions = {}
    deducted = Fraction(0)
    for name, rule in section.deductions.items():
        events = unit.events.get(name, 0)
        taken = Fraction(str(rule.points)) * events
        if rule.cap is not None:
            taken = min(taken, Fraction(str(rule.cap)))
        deducted += taken
        deductions[name] = {"count": events, "points": _half_up(taken)}
    score = None if base is None else max(Fraction(0), base - deducted)
    return {
        "key": unit.key,
        "name": unit.name,
        "areas": unit.areas,
        "total": kpis["total"],
        "rates": rates,
        "rate_points": {n: None if p is None else _half_up(p) for n, p in points.items()},
        "missing_rates": [name for name, rate in rates.items() if rate is None],
        "deductions": deductions,
        "base": None if base is None else _half_up(base),
        "deducted": _half_up(deducted),
        "score": None if score is None else _half_up(score),
    }


def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort by score (highest first, then name) and number the ranks; equal scores share a rank and
    rows without a score come last, unranked."""
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0), r["name"], r["key"]))
    for i, row in enumerate(rows):
        if row["score"] is None:
            row["rank"] = None
        elif i and rows[i - 1]["score"] == row["score"]:
            row["rank"] = rows[i - 1]["rank"]
        else:
            row["rank"] = i + 1
    return rows


def scored(
    session: Session, *, kind: UnitKind, template: Template, date_from: datetime, date_to: datetime
) -> list[dict[str, Any]]:
    """Every unit's score for [date_from, date_to), ranked."""
    section = template.sections[kind]
    units = unit_figures(session, kind=kind, date_from=date_from, date_to=date_to)
    return rank([score_unit(section, unit) for unit in units.values()])


def score_table(
    session: Session,
    *,
    kind: UnitKind,
    version: ScoringTemplate,
    when: Period,
    visible: Callable[[dict[str, Any]], bool] = lambda row: True,
) -> dict[str, Any]:
    """The scores of one unit kind for a period, ranked over all units of the kind, with the previous
    period's score and rank; only the rows `visible` keeps are listed (ranks stay the district's)."""
    template = Template.from_json(version.body)
    rows = scored(session, kind=kind, template=template, date_from=when.date_from, date_to=when.date_to)
    previous = {
        row["key"]: row
        for row in scored(
            session, kind=kind, template=template, date_from=when.previous_from, date_to=when.previous_to
        )
    }
    for row in rows:
        before = previous.get(row["key"], {})
        row["previous_score"], row["previous_rank"] = before.get("score"), before.get("rank")
        both = row["score"] is not None and row["previous_score"] is not None
        row["score_change"] = round(row["score"] - row["previous_score"], 2) if both else None
        ranks = row["rank"] is not None and row["previous_rank"] is not None
        row["rank_change"] = row["previous_rank"] - row["rank"] if ranks else None
    return {
        "unit": kind.value,
        "unit_label": UNIT_LABELS[kind],
        "date_from": when.date_from,
        "date_to": when.date_to,
        "previous": {"date_from": when.previous_from, "date_to": when.previous_to},
        "template": {
            "version": version.id,
            "title": version.title,
            "created_at": version.created_at,
            **template.describe(kind),
        },
        "formula": FORMULA,
        "no_data_rule": NO_DATA_RULE,
        "no_data_note": NO_DATA_NOTE,
        "ranked": sum(1 for row in rows if row["rank"] is not None),
        "rows": [row for row in rows if visible(row)],
    }
