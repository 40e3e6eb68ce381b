"""Loading the demo district (平城区, synthetic shapes in the real frame) into an empty database."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from shapely.geometry import mapping
from sqlmodel import Session, func, select

from dispatch import clock
from dispatch.auth.models import Role, User
from dispatch.auth.service import hash_password
from dispatch.catalog.models import Category, Department, RoutingRule, TimeLimit, Urgency
from dispatch.demo import catalog
from dispatch.demo.gazetteer import CSV_PATH as GAZETTEER_CSV
from dispatch.demo.geometry import DISTRICT_CODE, AreaSpec, generate_district
from dispatch.demo.places import register_csvs
from dispatch.demo.scoring import seed_scoring_template
from dispatch.events.models import RequestType
from dispatch.gazetteer.importer import import_addresses
from dispatch.gazetteer.models import AddressPoint
from dispatch.grids.models import Area, AreaLevel, GridVersion
from dispatch.places.models import Place
from dispatch.places.service import import_register

DEMO_PASSWORD = "demo1234"
_SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢"
)
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力鹏宇浩凯晨欣怡佳琪"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: Role
    label: str


# The logins `up` prints; every demo account's password is DEMO_PASSWORD.
DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", Role.ADMIN, "管理员"),
    DemoLogin("dispatcher", Role.DISPATCHER, "派遣员"),
    DemoLogin("shiftlead", Role.SHIFT_LEAD, "值班长"),
    DemoLogin("leader", Role.LEADER, "领导"),
    DemoLogin("hotline", Role.HOTLINE, "12345受理员"),
    DemoLogin("cg1", Role.DEPARTMENT, "部门人员（区城市管理局）"),
    DemoLogin("jdzx", Role.DISPATCHER, "街道中心派遣员（第1个网格所在街道）"),
    DemoLogin("sqzx", Role.DISPATCHER, "社区工作站派遣员（第1个网格所在社区）"),
    DemoLogin("sqgz", Role.DEPARTMENT, "社区工作站人员（同一社区，承办）"),
    DemoLogin("wgy0001", Role.GRID_OFFICER, "网格员（第1个网格）"),
)
# Every street and community has a centre (a department with the area's code): 街道综治中心 zx<street>,
# 社区工作站 sq<community>, each with a dispatcher (<code>d) and a member of staff (<code>1).
CENTRE_LOGINS = {"jdzx": "street", "sqzx": "community", "sqgz": "community"}


def is_seeded(session: Session) -> bool:
    return session.exec(select(GridVersion.id)).first() is not None


def seed_demo(session: Session, *, seed: int = 20261128) -> dict[str, int]:
    """Load the demo district into an empty database (flushes; the caller commits). Returns counts."""
    rng = random.Random(seed)
    password_hash = hash_password(DEMO_PASSWORD)  # one hash for all demo accounts keeps seeding fast
    now = clock.now()
    version = GridVersion(label="演示区划（合成数据）", effective_at=now, created_at=now)
    session.add(version)
    session.flush()
    specs = generate_district(seed)
    departments = _departments(session, specs)
    _categories(session)
    rule_count = _rules(session, specs, departments)
    officers = _users(session, specs, departments, password_hash, rng)
    session.add_all(
        Area(
            version_id=version.id or 0,
            code=spec.code,
            name=spec.name,
            level=AreaLevel(spec.level),
            parent_code=spec.parent_code,
            kind=spec.kind,
            geometry=json.dumps(mapping(spec.polygon), separators=(",", ":")),
            duty_officer_id=officers.get(spec.code),
        )
        for spec in specs
    )
    session.flush()
    addresses = import_addresses(session, GAZETTEER_CSV.read_text("utf-8"))
    if not addresses.ok:
        raise RuntimeError(f"demo gazetteer does not import: {addresses.problems[:3]}")
    grids = [s for s in specs if s.level == "grid"]
    for owner, text in register_csvs(grids, seed).items():
        report = import_register(session, text, owner=owner)
        if not report.ok:
            raise RuntimeError(f"demo register of {owner} does not import: {report.problems[:3]}")
    seed_scoring_template(session)
    return {
        "areas": len(specs),
        "grids": sum(1 for s in specs if s.level == "grid"),
        "departments": len(departments),
        "rules": rule_count,
        "users": len(officers) + len(DEMO_LOGINS),
        "addresses": session.exec(select(func.count()).select_from(AddressPoint)).one(),
        "places": session.exec(select(func.count()).select_from(Place)).one(),
    }


def _centre_code(spec: AreaSpec) -> str:
    return f"zx{spec.code[-3:]}" if spec.level == "street" else f"sq{spec.code[-6:]}"


def _departments(session: Session, specs: list[AreaSpec]) -> dict[str, Department]:
    departments = [Department(code=code, name=name) for code, name in catalog.DEPARTMENTS]
    departments += [
        Department(code=f"jd{s.code[-3:]}", name=f"{s.name}办事处", kind="street")
        for s in specs
        if s.level == "street"
    ]
    departments += [
        Department(
            code=_centre_code(s),
            name=f"{s.name}{'综治中心' if s.level == 'street' else '工作站'}",
            kind="centre",
            area_code=s.code,
        )
        for s in specs
        if s.level in ("street", "community")
    ]
    session.add_all(departments)
    session.flush()
    return {d.code: d for d in departments}


def _categories(session: Session) -> None:
    session.add_all(
        Category(
            code=code,
            name=name,
            parent_code=parent,
            limit_normal=normal,
            limit_normal_unit=normal_unit,
            limit_urgent=urgent,
            limit_urgent_unit=urgent_unit,
            needs_verification=code in catalog.NEEDS_VERIFICATION,
        )
        for code, name, parent, normal, normal_unit, urgent, urgent_unit in catalog.CATEGORIES
    )
    session.add_all(
        TimeLimit(
            request_type=RequestType(kind),
            category_code=category,
            urgency=Urgency(urgency),
            amount=amount,
            unit=unit,
            note=note,
        )
        for kind, category, urgency, amount, unit, note in catalog.TIME_LIMITS
    )
    session.flush()


def _rules(session: Session, specs: list[AreaSpec], departments: dict[str, Department]) -> int:
    streets = [s for s in specs if s.level == "street"]
    communities = [s for s in specs if s.level == "community"]
    centres = {s.code: _centre_code(s) for s in [*streets, *communities]}
    rules: list[RoutingRule] = []
    for category, area, department in catalog.RULES:
        by_kind = {"all-streets": streets, "all-communities": communities}
        areas = [s.code for s in by_kind[area]] if area in by_kind else [area]
        for area_code in (DISTRICT_CODE if a == "district" else a for a in areas):
            code = {"street": f"jd{area_code[-3:]}", "centre": centres.get(area_code, "")}.get(
                department, department
            )
            rules.append(
                RoutingRule(
                    category_code=category, area_code=area_code, department_id=departments[code].id or 0
                )
            )
    # A community and a grid with their own rules, so every level of specificity is in use.
    community = next(s for s in specs if s.level == "community" and s.parent_code == "140213057")
    rules.append(
        RoutingRule(
            category_code="20001",
            area_code=community.code,
            department_id=departments["sf"].id or 0,
            note="该社区邻里纠纷由区司法局直接调解",
        )
    )
    grid = next(s for s in specs if s.level == "grid" and s.parent_code == community.code)
    rules.append(
        RoutingRule(
            category_code="09006",
            area_code=grid.code,
            department_id=departments["scjg"].id or 0,
            note="农贸市场网格：占道经营由市场监管处置",
        )
    )
    session.add_all(rules)
    session.flush()
    return len(rules)


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _users(
    session: Session,
    specs: list[AreaSpec],
    departments: dict[str, Department],
    password_hash: str,
    rng: random.Random,
) -> dict[str, int]:
    """Create the demo logins, two staff per department, a dispatcher per centre, one officer per
    grid; returns grid → officer."""
    first_grid = next(s for s in specs if s.level == "grid")
    community = next(s for s in specs if s.code == first_grid.parent_code)
    street = next(s for s in specs if s.code == community.parent_code)
    home = {"street": departments[_centre_code(street)], "community": departments[_centre_code(community)]}
    users = []
    for login in DEMO_LOGINS:
        if login.role is Role.GRID_OFFICER:
            continue
        department = home[CENTRE_LOGINS[login.username]] if login.username in CENTRE_LOGINS else None
        if department is None and login.role is Role.DEPARTMENT:
            department = departments["cg"]
        users.append(
            User(
                username=login.username,
                full_name=f"{login.label.split('（')[0]}{_person(rng)}",
                role=login.role,
                department_id=department.id if department else None,
                area_code=department.area_code if department and login.role is not Role.DEPARTMENT else None,
                password_hash=password_hash,
            )
        )
    users += [
        User(
            username=f"{centre.code}d",
            full_name=_person(rng),
            role=Role.DISPATCHER,
            department_id=centre.id,
            area_code=centre.area_code,
            password_hash=password_hash,
        )
        for centre in departments.values()
        if centre.area_code is not None
    ]
    for department in departments.values():
        for n in (1, 2):
            username = f"{department.code}{n}"
            if username != "cg1":
                users.append(
                    User(
                        username=username,
                        full_name=_person(rng),
                        role=Role.DEPARTMENT,
                        department_id=department.id,
                        password_hash=password_hash,
                    )
                )
    grids = [s for s in specs if s.level == "grid"]
    officers = [
        User(
            username=f"wgy{n:04d}",
            full_name=_person(rng),
            role=Role.GRID_OFFICER,
            password_hash=password_hash,
        )
        for n, _ in enumerate(grids, start=1)
    ]
    session.add_all(users + officers)
    session.flush()
    return {grid.code: officer.id or 0 for grid, officer in zip(grids, officers, strict=True)}
