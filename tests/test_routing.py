"""Routing: the most specific rule wins, places outside grids and on boundaries, missing rules."""

from __future__ import annotations

import threading
import time

import pytest
from redis import Redis
from shapely.geometry import Point
from sqlmodel import Session, col, func, select

from dispatch.catalog.models import Department, RoutingRule
from dispatch.db import new_session
from dispatch.tickets.models import Action, Ticket, TicketLog, TicketState
from dispatch.tickets.routing import route_batch
from dispatch.tickets.tasks import route_tickets
from tests.helpers import area, grids_in, inside, patrol, shared_vertex

GUCHENG = "140213051"  # 古城街道: its own office handles 06 and 09 categories
YUHE = "140213057"  # 御河街道


def routed(session: Session, ticket: Ticket) -> Ticket:
    route_tickets([ticket.id or 0])
    session.expire_all()
    fresh = session.get(Ticket, ticket.id)
    assert fresh is not None
    return fresh


def department_code(session: Session, ticket: Ticket) -> str | None:
    if ticket.department_id is None:
        return None
    department = session.get(Department, ticket.department_id)
    return department.code if department else None


@pytest.fixture
def ordinary_grid() -> tuple[float, float]:
    """A point inside a grid of 永泰街道, where only district-wide rules apply to city-appearance work."""
    return inside(grids_in("140213050")[0])


def test_category_rule_dispatches_with_deadline_and_log(
    session: Session, redis_db: Redis, ordinary_grid
) -> None:
    ticket = routed(session, patrol(session, lon=ordinary_grid[0], lat=ordinary_grid[1], category="06010"))
    assert ticket.state is TicketState.DISPATCHED
    assert department_code(session, ticket) == "cg"
    assert ticket.grid_code == grids_in("140213050")[0].code
    assert ticket.deadline_at is not None and ticket.deadline_at > ticket.created_at
    actions = session.exec(
        select(TicketLog.action).where(TicketLog.ticket_id == ticket.id).order_by(col(TicketLog.id))
    ).all()
    assert actions == [Action.INTAKE, Action.ROUTE]


def test_more_specific_category_wins_at_same_area(session: Session, redis_db: Redis, ordinary_grid) -> None:
    # 09 街面秩序 → 城管 district-wide, but 09009 机动车乱停放 → 公安 district-wide.
    lon, lat = ordinary_grid
    assert (
        department_code(session, routed(session, patrol(session, lon=lon, lat=lat, category="09006"))) == "cg"
    )
    assert (
        department_code(session, routed(session, patrol(session, lon=lon, lat=lat, category="09009"))) == "ga"
    )


def test_more_specific_area_beats_more_specific_category(session: Session, redis_db: Redis) -> None:
    # In 古城 the street rule for all of 09 beats the district rule for 09009.
    lon, lat = inside(grids_in(GUCHENG)[0])
    ticket = routed(session, patrol(session, lon=lon, lat=lat, category="09009"))
    assert department_code(session, ticket) == "jd051"


def test_grid_and_community_rules_win(session: Session, redis_db: Redis) -> None:
    grid_rule = session.exec(
        select(RoutingRule).where(
            RoutingRule.category_code == "09006", func.length(RoutingRule.area_code) == 15
        )
    ).one()
    community_rule = session.exec(
        select(RoutingRule).where(
            RoutingRule.category_code == "20001", func.length(RoutingRule.area_code) == 12
        )
    ).one()
    lon, lat = inside(area(grid_rule.area_code))
    assert (
        department_code(session, routed(session, patrol(session, lon=lon, lat=lat, category="09006")))
        == "scjg"
    )
    # Another grid of the same community has no grid rule: the district rule for 09 applies.
    other = next(g for g in grids_in(community_rule.area_code) if g.code != grid_rule.area_code)
    lon, lat = inside(other)
    assert (
        department_code(session, routed(session, patrol(session, lon=lon, lat=lat, category="09006"))) == "cg"
    )
    # 20001 邻里纠纷: the community rule (司法局) beats the street rule (街道办).
    assert (
        department_code(session, routed(session, patrol(session, lon=lon, lat=lat, category="20001"))) == "sf"
    )
    neighbour = next(g for g in grids_in(YUHE) if not g.code.startswith(community_rule.area_code))
    lon, lat = inside(neighbour)
    assert (
        department_code(session, routed(session, patrol(session, lon=lon, lat=lat, category="20001")))
        == "jd057"
    )


def test_missing_rule_goes_to_manual_queue(session: Session, redis_db: Redis, ordinary_grid) -> None:
    ticket = routed(session, patrol(session, lon=ordinary_grid[0], lat=ordinary_grid[1], category="10001"))
    assert ticket.state is TicketState.MANUAL
    assert ticket.manual_reason == "无匹配的派遣规则"
    assert ticket.department_id is None and ticket.grid_code is not None


def test_outside_every_grid_goes_to_manual_queue(session: Session, redis_db: Redis) -> None:
    district = area("140213").polygon
    minx = district.bounds[0]
    # West of the district's western edge, inside the accepted margin (0.02 degrees).
    lon, lat = minx - 0.005, district.centroid.y
    assert not district.contains(Point(lon, lat))
    ticket = routed(session, patrol(session, lon=lon, lat=lat, category="06010"))
    assert ticket.state is TicketState.MANUAL
    assert ticket.manual_reason == "位置不在任何网格内"
    assert ticket.grid_code is None


def test_boundary_inside_one_jurisdiction_takes_lowest_grid(session: Session, redis_db: Redis) -> None:
    grids = grids_in("140213050001")
    pair = next((a, b) for a in grids for b in grids if a.code < b.code and shared_vertex(a, b))
    lon, lat = shared_vertex(*pair)  # type: ignore[misc]
    ticket = routed(session, patrol(session, lon=lon, lat=lat, category="06010"))
    assert ticket.state is TicketState.DISPATCHED
    assert ticket.grid_code == pair[0].code


def test_boundary_between_jurisdictions_goes_to_manual_queue(session: Session, redis_db: Redis) -> None:
    gucheng = grids_in(GUCHENG)
    others = [g for g in grids_in("1402130") if not g.code.startswith(GUCHENG)]
    vertex = next(v for a in gucheng for b in others if (v := shared_vertex(a, b)))
    ticket = routed(session, patrol(session, lon=vertex[0], lat=vertex[1], category="06010"))
    assert ticket.state is TicketState.MANUAL
    assert ticket.manual_reason == "位于多个网格交界处，责任部门不一致"


def test_routing_twice_changes_nothing_the_second_time(
    session: Session, redis_db: Redis, ordinary_grid
) -> None:
    ticket = patrol(session, lon=ordinary_grid[0], lat=ordinary_grid[1])
    first = route_tickets([ticket.id or 0])
    second = route_tickets([ticket.id or 0])
    assert first == {"dispatched": 1, "manual": 0, "skipped": 0}
    assert second == {"dispatched": 0, "manual": 0, "skipped": 1}
    routes = session.exec(
        select(func.count())
        .select_from(TicketLog)
        .where(TicketLog.ticket_id == ticket.id, TicketLog.action == Action.ROUTE)
    ).one()
    assert routes == 1


def test_concurrent_routers_cannot_both_win(
    database_url: str, session: Session, redis_db: Redis, ordinary_grid
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: the second router waits instead of racing")
    ticket = patrol(session, lon=ordinary_grid[0], lat=ordinary_grid[1])
    results: list[dict[str, int]] = []
    with new_session() as first:
        assert route_batch(first, [ticket.id or 0])["dispatched"] == 1  # flushed, not committed: row locked
        second = threading.Thread(target=lambda: results.append(route_tickets([ticket.id or 0])))
        second.start()
        time.sleep(0.5)  # the second router has read the ticket as still waiting and blocks on the row
        assert second.is_alive()
        first.commit()
    second.join(timeout=10)
    assert results == [{"dispatched": 0, "manual": 0, "skipped": 1}]  # it lost, retried and found it routed
    session.expire_all()
    routes = session.exec(
        select(func.count())
        .select_from(TicketLog)
        .where(TicketLog.ticket_id == ticket.id, TicketLog.action == Action.ROUTE)
    ).one()
    assert routes == 1


def test_address_only_call_is_placed_by_the_gazetteer(session: Session, redis_db: Redis) -> None:
    from tests.helpers import hotline

    ticket = hotline(session, call_id="ADDR-1", address="御河北路1号", category_code="06010")
    assert ticket.lon is None
    ticket = routed(session, ticket)
    assert (ticket.lon, ticket.lat) == (113.1945667, 40.0761379)  # the gazetteer's point for 御河北路1号
    assert ticket.state is TicketState.DISPATCHED and ticket.grid_code is not None


def test_a_burst_wakes_one_routing_job_that_routes_it_all(
    session: Session, redis_db: Redis, run_worker, ordinary_grid
) -> None:  # type: ignore[no-untyped-def]
    from dispatch.queues import ROUTING_QUEUE, get_queue

    tickets = [patrol(session, lon=ordinary_grid[0], lat=ordinary_grid[1]) for _ in range(6)]
    assert get_queue(ROUTING_QUEUE).count == 1  # one job for the burst, not one per ticket
    run_worker()
    session.expire_all()
    assert {session.get(Ticket, t.id).state for t in tickets} == {TicketState.DISPATCHED}  # type: ignore[union-attr]
    route_rows = session.exec(
        select(TicketLog.id).where(
            col(TicketLog.ticket_id).in_([t.id for t in tickets]), TicketLog.action == Action.ROUTE
        )
    ).all()
    assert len(route_rows) == 6
    later = patrol(session, lon=ordinary_grid[0], lat=ordinary_grid[1])
    assert get_queue(ROUTING_QUEUE).count == 1  # the job has run: the next ticket wakes a new one
    run_worker()
    session.expire_all()
    assert session.get(Ticket, later.id).state is TicketState.DISPATCHED  # type: ignore[union-attr]


def test_a_full_batch_wakes_the_next_one(
    session: Session, redis_db: Redis, run_worker, ordinary_grid, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from dispatch.config import get_settings

    monkeypatch.setattr(get_settings(), "route_batch_size", 2)
    tickets = [patrol(session, lon=ordinary_grid[0], lat=ordinary_grid[1]) for _ in range(5)]
    run_worker()  # 2 + 2 + 1, each full batch waking the next job
    session.expire_all()
    assert {session.get(Ticket, t.id).state for t in tickets} == {TicketState.DISPATCHED}  # type: ignore[union-attr]


def test_a_ticket_that_breaks_routing_goes_to_the_manual_queue_alone(
    session: Session, redis_db: Redis, run_worker, ordinary_grid, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from dispatch.tickets import routing

    tickets = [patrol(session, lon=ordinary_grid[0], lat=ordinary_grid[1]) for _ in range(4)]
    poison = tickets[2].id
    real = routing.start_clock

    def breaks_on_one(s: Session, ticket: Ticket, now):  # type: ignore[no-untyped-def]
        if ticket.id == poison:
            raise ValueError("a bug that only this ticket triggers")
        return real(s, ticket, now)

    monkeypatch.setattr(routing, "start_clock", breaks_on_one)
    run_worker()
    session.expire_all()
    states = {t.id: session.get(Ticket, t.id) for t in tickets}
    assert [states[t.id].state for t in tickets] == [  # type: ignore[union-attr]
        TicketState.DISPATCHED,
        TicketState.DISPATCHED,
        TicketState.MANUAL,
        TicketState.DISPATCHED,
    ]
    assert states[poison].manual_reason == "自动派遣出错，需人工派遣"  # type: ignore[union-attr]


def test_two_routers_take_disjoint_batches(database_url: str, session: Session, ordinary_grid) -> None:
    from dispatch.tickets.tasks import waiting_ids

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: a second router waits instead of skipping")
    tickets = [patrol(session, lon=ordinary_grid[0], lat=ordinary_grid[1]) for _ in range(4)]
    ids = [t.id for t in tickets]
    with new_session() as first, new_session() as second:
        mine = waiting_ids(first, limit=2)  # rows locked until `first` ends
        theirs = waiting_ids(second, limit=2)
        assert mine == ids[:2] and theirs == ids[2:]


def test_a_batch_suggests_the_duplicates_each_ticket_would_find_alone(
    session: Session, redis_db: Redis, ordinary_grid
) -> None:
    """Routing suggests duplicates for a whole batch with two queries; what it stores for each ticket is
    what the one-ticket search (the hotline desk's hints) finds: same category within the radius (from
    ~50 to ~400 m apart here), or the same caller about the same address; the same caller first, then the
    nearest, at most `duplicate_max` (10) of them."""
    import random

    from dispatch.tickets.duplicates import find_candidates
    from dispatch.tickets.side_models import DuplicateSuggestion
    from tests.helpers import hotline

    rng = random.Random(7)
    lon0, lat0 = ordinary_grid
    tickets = []
    for n in range(80):
        lon, lat = lon0 + rng.uniform(-0.003, 0.003), lat0 + rng.uniform(-0.002, 0.002)
        category = rng.choice(["06010", "06012"])
        if n % 3:
            tickets.append(patrol(session, lon=lon, lat=lat, category=category))
        else:
            address = rng.choice(["御河西路12号", "御河西路 12 號", "御河北路1号"])
            phone = rng.choice(["13812345678", "13900001111"])
            where = {"lon": lon, "lat": lat} if n % 2 else {}
            tickets.append(
                hotline(
                    session,
                    call_id=f"DUP-{n}",
                    caller_phone=phone,
                    address=address,
                    category_code=category,
                    **where,
                )
            )
    ids = [t.id or 0 for t in tickets]
    with new_session() as router:
        route_batch(router, ids)
        router.commit()
    session.expire_all()
    stored: dict[int, list[tuple[int, float | None, bool]]] = {i: [] for i in ids}
    for s in session.exec(select(DuplicateSuggestion).order_by(col(DuplicateSuggestion.id))):
        stored[s.ticket_id].append((s.candidate_id, s.distance_m, s.same_caller))
    for ticket in session.exec(select(Ticket).where(col(Ticket.id).in_(ids))):
        alone = find_candidates(
            session,
            category_code=ticket.category_code,
            lon=ticket.lon,
            lat=ticket.lat,
            caller_phone=ticket.caller_phone,
            address=ticket.address,
            exclude_id=ticket.id,
        )
        assert stored[ticket.id or 0] == [(c.ticket.id, c.distance_m, c.same_caller) for c in alone]
    assert sum(map(len, stored.values())) > 40  # the seed makes plenty of both kinds
    assert any(caller for found in stored.values() for _, _, caller in found)
    assert max(map(len, stored.values())) == 10  # the later tickets had more candidates than the cap
    for found in stored.values():
        callers = [caller for _, _, caller in found]
        assert callers == sorted(callers, reverse=True)  # the same caller before the nearest
        distances = [d for _, d, caller in found if not caller]
        assert distances == sorted(distances, key=lambda d: (d is None, d or 0.0))
