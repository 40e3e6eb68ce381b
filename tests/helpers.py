"""Small helpers shared by tests: demo places and direct intake through the service layer."""

from __future__ import annotations

from functools import lru_cache

from shapely.geometry import LineString, MultiLineString, Point
from sqlmodel import Session, select

from dispatch.auth.models import User
from dispatch.demo.geometry import AreaSpec, generate_district
from dispatch.events.schemas import HotlineIntake, PatrolIntake
from dispatch.events.service import accept_hotline, accept_patrol
from dispatch.tickets.models import Ticket


@lru_cache(maxsize=1)
def demo_areas() -> tuple[AreaSpec, ...]:
    return tuple(generate_district())


def area(code: str) -> AreaSpec:
    return next(a for a in demo_areas() if a.code == code)


def grids_in(prefix: str) -> list[AreaSpec]:
    """Grids whose code starts with `prefix` (a street or community code)."""
    return [a for a in demo_areas() if a.level == "grid" and a.code.startswith(prefix)]


def first_grid_places() -> tuple[AreaSpec, AreaSpec, AreaSpec]:
    """wgy0001's grid (the first), its community (sqzx's workstation) and its street (jdzx's centre)."""
    grid = next(a for a in demo_areas() if a.level == "grid")
    community = area(grid.parent_code or "")
    return grid, community, area(community.parent_code or "")


def other_communities() -> tuple[AreaSpec, AreaSpec]:
    """A community of another street, and another community of the first grid's street."""
    _, community, street = first_grid_places()
    communities = [a for a in demo_areas() if a.level == "community"]
    far = next(a for a in communities if a.parent_code != street.code)
    return far, next(a for a in communities if a.parent_code == street.code and a != community)


def inside(spec: AreaSpec) -> tuple[float, float]:
    point = spec.polygon.representative_point()
    return point.x, point.y


def shared_vertex(a: AreaSpec, b: AreaSpec) -> tuple[float, float] | None:
    """A vertex on the boundary both areas share (exactly representable), or None if they do not touch."""
    edge = a.polygon.boundary.intersection(b.polygon.boundary)
    if isinstance(edge, LineString | MultiLineString) and not edge.is_empty:
        line = edge if isinstance(edge, LineString) else edge.geoms[0]
        x, y = line.coords[1] if len(line.coords) > 2 else line.coords[0]
        if a.polygon.intersects(Point(x, y)) and b.polygon.intersects(Point(x, y)):
            return x, y
    return None


def user(session: Session, username: str) -> User:
    found = session.exec(select(User).where(User.username == username)).one()
    return found


def patrol(
    session: Session,
    *,
    lon: float,
    lat: float,
    category: str = "06010",
    by: str = "wgy0001",
    client_ref: str | None = None,
) -> Ticket:
    """Accept and commit a patrol report; returns its ticket."""
    report = PatrolIntake(
        lon=lon, lat=lat, category_code=category, description="测试上报", client_ref=client_ref
    )
    ticket, _ = accept_patrol(session, report=report, photos=[], by=user(session, by))
    session.commit()
    return ticket


def hotline(session: Session, **overrides: object) -> Ticket:
    fields: dict[str, object] = {
        "call_id": "CALL-0001",
        "caller_name": "李先生",
        "caller_phone": "13812345678",
        "address": "御河西路12号",
        "request_type": "complaint",
        "category_code": "06028",
        "content": "夜间噪声扰民",
    }
    fields.update(overrides)
    ticket, _ = accept_hotline(
        session, call=HotlineIntake.model_validate(fields), by=user(session, "hotline")
    )
    session.commit()
    return ticket
