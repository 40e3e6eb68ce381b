"""Who plays a demo month: the demo district's people, read once, and how each unit works (its pace);
what the play remembers of each ticket (Case) and its clock.

Departments differ on purpose, so the KPIs and rankings of the month mean something: some sign within
the hour and feed back early, others sign late, ask for extensions, get urged and reworked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.auth.models import Role, User
from dispatch.catalog.models import Department
from dispatch.demo.history_arrivals import Arrival
from dispatch.grids.models import Area, AreaLevel, GridVersion


@dataclass(frozen=True)
class Pace:
    """How a unit works: ranges are drawn uniformly for each ticket."""

    sign_hours: tuple[float, float]  # working hours from dispatch to 签收 (the limit is 2)
    handling_share: tuple[float, float]  # share of the handling limit used before 反馈
    return_share: float  # tickets it returns (回退) as not its own
    extension_share: float  # tickets it asks more time for (延期申请)
    quality: float  # chance that a 核查 finds the work done
    satisfied: float  # chance of 满意 at 回访 (the rest mostly 基本满意)
    ack_hours: tuple[float, float]  # working hours to acknowledge a 催办
    ack_share: float  # notices it acknowledges at all


PROMPT = Pace((0.1, 1.2), (0.15, 0.6), 0.03, 0.02, 0.95, 0.85, (0.1, 1.0), 1.0)
STEADY = Pace((0.3, 2.4), (0.3, 1.0), 0.06, 0.06, 0.88, 0.7, (0.5, 3.0), 0.9)
SLOW = Pace((1.0, 6.0), (0.6, 1.7), 0.1, 0.15, 0.78, 0.55, (2.0, 8.0), 0.6)
# The district departments' paces; street offices and community workstations alternate by code.
DEPARTMENT_PACES = {
    "ga": PROMPT,
    "gr": PROMPT,
    "sw": PROMPT,
    "yj": PROMPT,
    "cg": STEADY,
    "scjg": STEADY,
    "sf": STEADY,
    "wj": STEADY,
    "mz": STEADY,
    "zj": SLOW,
    "sthj": SLOW,
    "xf": SLOW,
}
# Where the centre sends what no rule places, and where a return (回退) is sent on (改派), by 大类.
DISTRICT_HANDLER = {
    "06": "cg",
    "07": "cg",
    "08": "zj",
    "09": "cg",
    "20": "sf",
    "21": "yj",
    "22": "zj",
    "23": "sthj",
    "24": "cg",
}


@dataclass
class Case:
    """What the play remembers of one ticket besides what the database holds."""

    arrival: Arrival
    epoch: int = 0
    returns: int = 0
    reopens: int = 0
    reworks: int = 0
    extensions: int = 0
    checked: bool = False  # 核实 done in a queue
    hops: int = 0  # hand-overs between centres (上报, 下派)
    from_community: bool = False


class SimClock:
    """The instant the play is at; dispatch.clock reads it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@dataclass
class Cast:
    """The demo district's people and units, read once (detached users keep their fields)."""

    dispatcher: User
    shift_lead: User
    leader: User
    hotline: User
    departments: dict[int, Department]
    by_code: dict[str, Department]
    staff: dict[int, list[User]]  # department (or centre) → its 部门人员
    centre_dispatcher: dict[int, User]  # centre → its dispatcher
    centre_of_area: dict[str, Department]  # street or community code → its centre
    level: dict[str, AreaLevel]  # area code → level
    officer_of_grid: dict[str, User]
    users: dict[int, User]
    paces: dict[int, Pace]

    def pace(self, department_id: int | None) -> Pace:
        return self.paces.get(department_id or 0, STEADY)

    def street_office(self, street_code: str | None) -> Department | None:
        return self.by_code.get(f"jd{street_code[-3:]}") if street_code else None

    def handler_for(self, category_code: str, street_code: str | None) -> Department:
        """Where the district centre sends a ticket of this category (其他事件: the street office)."""
        code = DISTRICT_HANDLER.get(category_code[:2])
        office = self.street_office(street_code)
        if code is None and office is not None:
            return office
        return self.by_code[code or "cg"]

    def alternative(self, current: int | None, category_code: str, street_code: str | None) -> Department:
        """Who a returned ticket goes to instead (改派): the district department or the street office,
        whichever did not return it."""
        for candidate in (self.handler_for(category_code, street_code), self.street_office(street_code)):
            if candidate is not None and candidate.id != current:
                return candidate
        return self.by_code["xf"] if self.by_code["cg"].id == current else self.by_code["cg"]


def missing_demo(session: Session) -> str | None:
    """Why this database cannot hold a demo history (None: it holds the demo district)."""
    needed = ("dispatcher", "shiftlead", "leader", "hotline", "cg1")
    found = session.exec(select(User.username).where(col(User.username).in_(needed))).all()
    if len(set(found)) < len(needed) or session.exec(select(GridVersion.id)).first() is None:
        return "数据库中没有演示区县（先运行 grid-dispatch seed-demo）"
    if not session.exec(select(Department.id).where(Department.code == "jd050")).first():
        return "数据库中没有演示区县的部门（先运行 grid-dispatch seed-demo）"
    return None


def load_cast(session: Session) -> Cast:
    users = list(session.exec(select(User).where(col(User.active)).order_by(col(User.id))))
    named = {u.username: u for u in users}
    departments = list(session.exec(select(Department).order_by(col(Department.id))))
    version = session.exec(select(GridVersion.id).order_by(col(GridVersion.id).desc())).first()
    areas = list(session.exec(select(Area).where(Area.version_id == version)))
    by_id = {u.id or 0: u for u in users}
    staff: dict[int, list[User]] = {}
    centre_dispatcher: dict[int, User] = {}
    for user in users:
        if user.department_id is None:
            continue
        if user.role is Role.DEPARTMENT:
            staff.setdefault(user.department_id, []).append(user)
        elif user.role is Role.DISPATCHER and user.area_code is not None:
            centre_dispatcher.setdefault(user.department_id, user)
    paces: dict[int, Pace] = {}
    for department in departments:
        if department.code in DEPARTMENT_PACES:
            paces[department.id or 0] = DEPARTMENT_PACES[department.code]
        else:  # street offices and workstations: a third of each kind prompt, steady, slow
            paces[department.id or 0] = (PROMPT, STEADY, SLOW)[int(department.code[-3:]) % 3]
    return Cast(
        dispatcher=named["dispatcher"],
        shift_lead=named["shiftlead"],
        leader=named["leader"],
        hotline=named["hotline"],
        departments={d.id or 0: d for d in departments},
        by_code={d.code: d for d in departments},
        staff=staff,
        centre_dispatcher=centre_dispatcher,
        centre_of_area={d.area_code: d for d in departments if d.area_code is not None},
        level={a.code: a.level for a in areas},
        officer_of_grid={
            a.code: by_id[a.duty_officer_id]
            for a in areas
            if a.level is AreaLevel.GRID and a.duty_officer_id in by_id
        },
        users=by_id,
        paces=paces,
    )
