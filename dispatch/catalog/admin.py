"""Admin changes to departments and routing rules, one at a time, with the same checks as the import."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from dispatch.auth.models import User
from dispatch.catalog.models import Category, Department, RoutingRule
from dispatch.errors import InvalidInput, NotFound
from dispatch.grids.locator import current_version_id
from dispatch.grids.models import Area, AreaLevel
from dispatch.tickets.models import Ticket


def department_by_code(session: Session, code: str) -> Department:
    department = session.exec(select(Department).where(Department.code == code)).first()
    if department is None:
        raise NotFound(f"部门 {code} 不存在")
    return department


def save_department(
    session: Session, *, code: str, name: str, kind: str = "department", area_code: str | None = None
) -> Department:
    """Create the department, or rename/re-kind it if the code exists (flushes). A centre (kind
    `centre`) names the street or community it serves; no two centres serve one area."""
    if kind not in ("department", "street", "centre"):
        raise InvalidInput("部门类型应为 department、street 或 centre", field="kind")
    if (kind == "centre") != bool(area_code):
        raise InvalidInput("中心（centre）须填写 area_code，其他部门不填", field="area_code")
    department = session.exec(select(Department).where(Department.code == code)).first()
    if area_code:
        version_id = current_version_id(session)
        level = session.exec(
            select(Area.level).where(Area.version_id == version_id, Area.code == area_code)
        ).first()
        if level not in (AreaLevel.STREET, AreaLevel.COMMUNITY):
            raise InvalidInput(f"{area_code} 不是当前网格版本中的街道或社区", field="area_code")
        holder = session.exec(select(Department).where(Department.area_code == area_code)).first()
        if holder is not None and holder.code != code:
            raise InvalidInput(f"辖区 {area_code} 已是中心 {holder.code} 的辖区", field="area_code")
    department = department or Department(code=code, name=name)
    department.name, department.kind, department.area_code = name, kind, area_code or None
    session.add(department)
    session.flush()
    return department


def delete_department(session: Session, *, code: str) -> None:
    """Delete a department nothing refers to; one with rules, staff or tickets is refused (keeps history)."""
    department = department_by_code(session, code)
    uses = {
        "条派遣规则": RoutingRule.department_id,
        "名人员": User.department_id,
        "张工单": Ticket.department_id,
        "张由其主责的工单": Ticket.centre_id,
    }
    for label, column in uses.items():
        count = session.exec(select(func.count()).where(column == department.id)).one()
        if count:
            raise InvalidInput(f"部门 {code} 仍有 {count} {label}引用，不能删除", field="code")
    session.delete(department)
    session.flush()


def list_rules(session: Session) -> Sequence[RoutingRule]:
    return session.exec(
        select(RoutingRule).order_by(col(RoutingRule.category_code), col(RoutingRule.area_code))
    ).all()


def save_rule(
    session: Session,
    *,
    category_code: str,
    area_code: str,
    department_code: str,
    note: str = "",
    rule_id: int | None = None,
) -> RoutingRule:
    """Create (or with rule_id, change) a rule; unknown names and conflicts are refused (422), flushes."""
    if session.get(Category, category_code) is None:
        raise InvalidInput(f"类别 {category_code} 不存在", field="category_code")
    version_id = current_version_id(session)
    area = session.exec(select(Area.id).where(Area.version_id == version_id, Area.code == area_code)).first()
    if area is None:
        raise InvalidInput(f"当前网格版本中没有区域 {area_code}", field="area_code")
    department = session.exec(select(Department).where(Department.code == department_code)).first()
    if department is None:
        raise InvalidInput(f"部门 {department_code} 不存在", field="department_code")
    same = session.exec(
        select(RoutingRule).where(
            RoutingRule.category_code == category_code,
            RoutingRule.area_code == area_code,
            RoutingRule.id != rule_id,
        )
    ).first()
    if same is not None:
        verb = "重复" if same.department_id == department.id else "冲突（同样具体但部门不同）"
        raise InvalidInput(f"与规则 #{same.id} {verb}", field="area_code", rule_id=same.id)
    rule = (
        session.get(RoutingRule, rule_id)
        if rule_id is not None
        else RoutingRule(category_code=category_code, area_code=area_code, department_id=department.id or 0)
    )
    if rule is None:
        raise NotFound(f"规则 {rule_id} 不存在")
    rule.category_code, rule.area_code, rule.department_id, rule.note = (
        category_code,
        area_code,
        department.id or 0,
        note,
    )
    session.add(rule)
    session.flush()
    return rule


def delete_rule(session: Session, *, rule_id: int) -> None:
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound(f"规则 {rule_id} 不存在")
    session.delete(rule)
    session.flush()
