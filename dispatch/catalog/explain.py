"""Routing explanation: the grid, rule, department and deadline routing would choose, and why others lost.

It calls the routing code itself (`decide`, the RuleBook, the deadline function), so the answer is
what a worker would do, not a second implementation that could drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.catalog.models import Category, Department, Urgency
from dispatch.catalog.rules import Candidate, RuleBook, RuleMatch
from dispatch.config import get_settings
from dispatch.errors import InvalidInput, NotFound
from dispatch.events.models import RequestType, Source
from dispatch.grids.locator import GridLocator, GridPlace, current_locator
from dispatch.grids.models import Area, GridVersion
from dispatch.tickets.deadlines import applied_limit
from dispatch.tickets.models import Action, Ticket, TicketLog
from dispatch.tickets.routing import decide
from dispatch.worktime import deadline_for

LEVEL_BY_DIGITS = {6: "区", 9: "街道", 12: "社区", 15: "网格"}


@dataclass(frozen=True)
class RuleVerdict:
    """One candidate rule and what became of it: selected, lost (with the reason) or in conflict."""

    rule_id: int
    category_code: str
    category_level: str  # 小类 | 大类
    area_code: str
    area_name: str
    area_level: str  # 网格 | 社区 | 街道 | 区
    department_code: str
    department_name: str
    outcome: str  # selected | lost | conflict
    reason: str
    note: str = ""


@dataclass(frozen=True)
class GridHit:
    code: str
    name: str
    chain: tuple[str, ...]
    rule_id: int | None
    department_code: str | None


@dataclass
class Explanation:
    """Everything a dispatcher needs to judge a route; `summary` says it in one Chinese sentence."""

    lon: float | None
    lat: float | None
    category_code: str
    category_name: str
    urgency: Urgency
    version_id: int | None
    version_label: str | None
    grids: list[GridHit]
    department_code: str | None
    department_name: str | None
    rule_id: int | None
    deadline_at: datetime | None
    manual_reason: str | None
    candidates: list[RuleVerdict]
    summary: str
    request_type: RequestType | None = None
    time_limit: str | None = None  # the limit and its origin, e.g. "咨询 · 全部类别 · 一般：1 工作日"
    recorded: dict[str, object] = field(default_factory=dict)  # what routing did to a real ticket


def explain_point(
    session: Session,
    *,
    lon: float | None,
    lat: float | None,
    category_code: str,
    urgency: Urgency = Urgency.NORMAL,
    request_type: RequestType | None = None,
    at: datetime | None = None,
    version_id: int | None = None,
) -> Explanation:
    """How routing places an event of this category at this point now (or on a given grid version)."""
    category = session.get(Category, category_code)
    if category is None:
        raise InvalidInput(f"未知的事件类别 {category_code}", field="category_code")
    at = at or clock.now()
    locator = _locator(session, version_id)
    probe = Ticket(
        source=Source.HOTLINE if request_type else Source.PATROL,
        request_type=request_type,
        category_code=category_code,
        urgency=urgency,
        description="",
        lon=lon,
        lat=lat,
        created_at=at,
        updated_at=at,
    )
    places = locator.locate(lon, lat) if locator and lon is not None and lat is not None else []
    rules = RuleBook.load(session)
    decision = decide(probe, places, rules)
    departments = {d.id: d for d in session.exec(select(Department)).all()}
    place = decision.grid or (places[0] if places else None)
    match = rules.match(category_code, place.chain) if place else RuleMatch(rule=None)
    verdicts = _verdicts(
        session,
        rules,
        category_code,
        place,
        match,
        departments,
        version_id=locator.version_id if locator else None,
    )
    department = departments.get(decision.department_id) if decision.department_id else None
    limit = applied_limit(session, probe)
    deadline = deadline_for(at, limit.amount, limit.unit) if department and limit else None
    version = session.get(GridVersion, locator.version_id) if locator else None
    hits = []
    for hit in places:
        m = rules.match(category_code, hit.chain)
        dept = departments.get(m.rule.department_id) if m.rule else None
        hits.append(
            GridHit(
                hit.grid_code,
                hit.grid_name,
                hit.chain,
                m.rule.id if m.rule else None,
                dept.code if dept else None,
            )
        )
    explanation = Explanation(
        lon=lon,
        lat=lat,
        category_code=category_code,
        category_name=category.name,
        urgency=urgency,
        version_id=version.id if version else None,
        version_label=version.label if version else None,
        grids=hits,
        department_code=department.code if department else None,
        department_name=department.name if department else None,
        rule_id=decision.rule_id,
        deadline_at=deadline,
        manual_reason=decision.reason,
        candidates=verdicts,
        summary="",
        request_type=request_type,
        time_limit=limit.describe() if limit else None,
    )
    explanation.summary = _summary(explanation)
    return explanation


def explain_ticket(session: Session, *, ticket_id: int) -> Explanation:
    """Why this ticket went where it went: re-run on the grid version it was routed with, plus the record."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"工单 {ticket_id} 不存在")
    explanation = explain_point(
        session,
        lon=ticket.lon,
        lat=ticket.lat,
        category_code=ticket.category_code,
        urgency=ticket.urgency,
        request_type=ticket.request_type,
        at=ticket.routed_at or ticket.created_at,  # the routing job starts the clock when it dispatches
        version_id=ticket.grid_version_id,
    )
    log = session.exec(
        select(TicketLog)
        .where(
            TicketLog.ticket_id == ticket_id, col(TicketLog.action).in_([Action.ROUTE, Action.ROUTE_MANUAL])
        )
        .order_by(col(TicketLog.id).desc())
    ).first()
    explanation.recorded = {
        "state": ticket.state.value,
        "grid_code": ticket.grid_code,
        "grid_version_id": ticket.grid_version_id,
        "department_id": ticket.department_id,
        "rule_id": log.data.get("rule_id") if log else None,
        "manual_reason": ticket.manual_reason,
        "deadline_at": ticket.deadline_at.isoformat() if ticket.deadline_at else None,
    }
    return explanation


def _locator(session: Session, version_id: int | None) -> GridLocator | None:
    current = current_locator(session)
    if version_id is None or (current is not None and current.version_id == version_id):
        return current
    areas = session.exec(select(Area).where(Area.version_id == version_id)).all()
    return GridLocator(version_id, areas) if areas else current


def _verdicts(
    session: Session,
    rules: RuleBook,
    category_code: str,
    place: GridPlace | None,
    match: RuleMatch,
    departments: dict[int | None, Department],
    *,
    version_id: int | None,
) -> list[RuleVerdict]:
    if place is None:
        return []
    candidates = rules.candidates(category_code, place.chain)
    names = dict(
        session.exec(
            select(Area.code, Area.name).where(Area.version_id == version_id, col(Area.code).in_(place.chain))
        ).all()
    )
    ranked = {c.rule.id: c for c in candidates}
    winner = ranked.get(match.rule.id) if match.rule else None
    conflict_ids = {r.id for r in match.conflict}
    best = winner or next((c for c in candidates if c.rule.id in conflict_ids), None)
    return [_verdict(c, best, winner, conflict_ids, names, departments, ranked) for c in candidates]


def _verdict(
    c: Candidate,
    best: Candidate | None,
    winner: Candidate | None,
    conflict_ids: set[int | None],
    names: dict[str, str],
    departments: dict[int | None, Department],
    ranked: dict[int | None, Candidate],
) -> RuleVerdict:
    level = LEVEL_BY_DIGITS.get(len(c.rule.area_code), "区域")
    cat_level = "小类" if c.category_rank == 0 else "大类"
    if winner is not None and c.rule.id == winner.rule.id:
        outcome, reason = "selected", f"胜出：最具体的规则（{level}级区域、按{cat_level}匹配）"
    elif c.rule.id in conflict_ids:
        others = ", ".join(f"#{i}" for i in sorted(i or 0 for i in conflict_ids) if i != c.rule.id)
        outcome, reason = "conflict", f"冲突：与规则 {others} 同样具体但部门不同，事件转人工派遣"
    elif best is None:
        outcome, reason = "lost", "未采用"
    elif c.area_rank > best.area_rank:
        best_level = LEVEL_BY_DIGITS.get(len(best.rule.area_code), "区域")
        outcome = "lost"
        reason = f"落选：{level}级区域不如规则 #{best.rule.id} 的{best_level}级区域具体（区域越小越优先）"
    elif c.category_rank > best.category_rank:
        outcome = "lost"
        reason = (
            f"落选：同为{level}级区域，但按大类 {c.rule.category_code} 匹配，"
            f"规则 #{best.rule.id} 按小类匹配，小类优先"
        )
    else:
        outcome, reason = "lost", f"落选：与规则 #{best.rule.id} 同样具体且部门相同（重复规则，取第一条）"
    department = departments.get(c.rule.department_id)
    return RuleVerdict(
        rule_id=c.rule.id or 0,
        category_code=c.rule.category_code,
        category_level=cat_level,
        area_code=c.rule.area_code,
        area_name=names.get(c.rule.area_code, ""),
        area_level=level,
        department_code=department.code if department else "",
        department_name=department.name if department else "",
        outcome=outcome,
        reason=reason,
        note=c.rule.note,
    )


def _summary(e: Explanation) -> str:
    if not e.grids:
        where = "无坐标" if e.lon is None else f"({e.lon}, {e.lat}) 不在任何网格内"
        return f"{where}（网格版本 {e.version_id}）→ 转人工派遣：{e.manual_reason}"
    grids = "、".join(f"{g.code} {g.name}" for g in e.grids)
    head = f"位于网格 {grids}（网格版本 {e.version_id}「{e.version_label}」）"
    if e.department_code is None:
        return f"{head}；{e.category_code} {e.category_name} → 转人工派遣：{e.manual_reason}"
    local = e.deadline_at.astimezone(ZoneInfo(get_settings().timezone)) if e.deadline_at else None
    limit = f"（时限 {e.time_limit}）" if e.time_limit else ""
    deadline = f"，处置期限 {local:%Y-%m-%d %H:%M}（北京时间）{limit}" if local else ""
    return (
        f"{head}；{e.category_code} {e.category_name} 按规则 #{e.rule_id} 派给 {e.department_name}{deadline}"
    )
