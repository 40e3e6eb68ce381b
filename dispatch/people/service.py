"""People: bulk user import with roles, departments and grid assignments; deactivation that keeps history.

Each grid has one duty officer (Area.duty_officer_id); one officer may hold several grids. Users
are never deleted: a deactivated account keeps its tickets, logs and past versions' grids.
"""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.auth.models import AREA_ROLES, ROLE_LABELS, Role, User
from dispatch.auth.service import hash_password
from dispatch.catalog.models import Department
from dispatch.catalog.tabular import Row, read_rows
from dispatch.errors import InvalidInput, NotFound
from dispatch.grids.locator import current_version_id
from dispatch.grids.models import Area, AreaLevel
from dispatch.grids.report import Report

COLUMNS = ("username", "full_name", "role", "department_code", "grids", "password")
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
# People are imported with a person's role; service accounts come only with their API keys.
PERSON_ROLES = "/".join(r.value for r in Role if r is not Role.SERVICE)
_ROLES: dict[str, Role] = {
    **{r.value: r for r in Role if r is not Role.SERVICE},
    **{label: r for r, label in ROLE_LABELS.items() if r is not Role.SERVICE},
}
MIN_PASSWORD = 8


def import_people(session: Session, text: str, *, dry_run: bool = False) -> Report:
    """Validate every line; if all are valid and not dry_run, create/update users and grids (flushes)."""
    report = Report(unit="行")
    rows = read_rows(text, fmt="csv", required=("username", "full_name", "role"), report=report)
    version_id = current_version_id(session)
    grids = {
        a.code: a
        for a in session.exec(select(Area).where(Area.version_id == version_id, Area.level == AreaLevel.GRID))
    }
    department_rows = {d.code: d for d in session.exec(select(Department))}
    users = {
        u.username: u
        for u in session.exec(select(User).where(col(User.username).in_([r.get("username") for r in rows])))
    }
    seen: dict[str, int] = {}
    holders: dict[str, int] = {}
    plans: list[tuple[Row, Role, list[str]]] = []
    for row in rows:
        name = row.get("username")
        if not _USERNAME.match(name):
            report.error("bad_username", f"登录名「{name}」只能含字母、数字、._-，2–64 位", where=row.line)
        elif name in seen:
            report.error("duplicate", f"登录名 {name} 重复：与第 {seen[name]} 行相同", where=row.line)
        seen.setdefault(name, row.line)
        role = _ROLES.get(row.get("role"))
        if role is None:
            report.error(
                "bad_role",
                f"角色「{row.get('role')}」无效，应为 {PERSON_ROLES}",
                where=row.line,
            )
            continue
        department = row.get("department_code")
        if department and department not in department_rows:
            report.error("unknown_department", f"部门 {department} 不存在", where=row.line)
        if role is Role.DEPARTMENT and not department:
            report.error("missing_department", "部门人员必须填写 department_code", where=row.line)
        if (
            role in AREA_ROLES
            and department in department_rows
            and department_rows[department].area_code is None
        ):
            report.error(
                "not_a_centre",
                f"{ROLE_LABELS[role]}只能属于区指挥中心（不填部门）或街道/社区中心，{department} 不是中心",
                where=row.line,
            )
        codes = [c.strip() for c in row.get("grids").replace("；", ";").split(";") if c.strip()]
        if codes and role is not Role.GRID_OFFICER:
            report.error("grids_for_non_officer", "只有网格员可以分配网格", where=row.line)
        for code in codes:
            if code not in grids:
                report.error("unknown_grid", f"当前网格版本中没有网格 {code}", where=row.line)
            elif code in holders:
                report.error(
                    "grid_twice",
                    f"网格 {code} 已在第 {holders[code]} 行分配（每个网格只有一名网格员）",
                    where=row.line,
                )
            holders.setdefault(code, row.line)
        password = row.get("password")
        if codes and name in users and not users[name].active:
            report.error("officer_inactive", f"账号 {name} 已停用，不能分配网格", where=row.line)
        if (password and len(password) < MIN_PASSWORD) or (not password and name not in users):
            report.error("bad_password", f"新账号需要至少 {MIN_PASSWORD} 位的初始密码", where=row.line)
        plans.append((row, role, codes))
    report.counts.update(
        rows=len(rows), new=sum(1 for r in rows if r.get("username") not in users), grids=len(holders)
    )
    if not rows and report.ok:
        report.error("no_rows", "文件中没有人员")
    if dry_run or not report.ok:
        return report
    for row, role, codes in plans:
        user = users.get(row.get("username")) or User(
            username=row.get("username"), full_name="", role=role, password_hash=""
        )
        user.full_name, user.role = row.get("full_name"), role
        unit = department_rows.get(row.get("department_code") or "")
        user.department_id = unit.id if unit else None
        # A centre's dispatcher, shift lead or leader sees the centre's area; anyone else no area.
        user.area_code = unit.area_code if unit and role in AREA_ROLES else None
        if row.get("password"):
            user.password_hash = hash_password(row.get("password"))
        session.add(user)
        session.flush()
        for code in codes:
            grids[code].duty_officer_id = user.id
            session.add(grids[code])
    session.flush()
    unassigned = sum(1 for g in grids.values() if g.duty_officer_id is None)
    if unassigned:
        report.warning("grids_without_officer", f"仍有 {unassigned} 个网格没有网格员")
    return report


def deactivate(session: Session, *, username: str, reassign_to: str | None = None) -> list[str]:
    """Deactivate an account (kept, with its history); its current grids go to `reassign_to` or are left
    without an officer. Returns the codes of the grids that changed hands (flushes)."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"账号 {username} 不存在")
    successor = None
    if reassign_to:
        successor = session.exec(select(User).where(User.username == reassign_to)).first()
        if successor is None or successor.role is not Role.GRID_OFFICER or not successor.active:
            raise InvalidInput(f"接替者 {reassign_to} 不是在岗网格员", field="reassign_to")
    user.active = False
    user.deactivated_at = user.deactivated_at or clock.now()
    session.add(user)
    version_id = current_version_id(session)
    held = session.exec(
        select(Area).where(Area.version_id == version_id, Area.duty_officer_id == user.id)
    ).all()
    for grid in held:
        grid.duty_officer_id = successor.id if successor else None
        session.add(grid)
    session.flush()
    return sorted(g.code for g in held)
