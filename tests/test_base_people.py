"""People: bulk import with roles, departments and grid assignments; deactivation keeps history."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session, select

from dispatch.auth.models import Role, User
from dispatch.errors import InvalidInput
from dispatch.grids.locator import current_version_id
from dispatch.grids.models import Area
from dispatch.people.service import deactivate, import_people
from dispatch.people.views import router
from tests.helpers import grids_in, patrol, user
from tests.test_base_files import app_with, bearer

HEADER = "username,full_name,role,department_code,grids,password"


def grid(session: Session, code: str) -> Area:
    return session.exec(
        select(Area).where(Area.version_id == current_version_id(session), Area.code == code)
    ).one()


def test_import_creates_users_and_moves_grids(session: Session) -> None:
    a, b = grids_in("140213050")[:2]
    text = (
        f"{HEADER}\nwgy9001,赵新,网格员,,{a.code};{b.code},start1234\n"
        "cg9,钱多,department_staff,cg,,start1234\n"
    )
    report = import_people(session, text)
    session.commit()
    assert report.ok, list(report.lines())
    officer = user(session, "wgy9001")
    assert officer.role is Role.GRID_OFFICER  # Chinese role labels are accepted
    assert grid(session, a.code).duty_officer_id == grid(session, b.code).duty_officer_id == officer.id
    assert user(session, "cg9").department_id is not None


def test_every_bad_line_reported_and_nothing_written(session: Session) -> None:
    a, b = grids_in("140213050")[:2]
    before = grid(session, a.code).duty_officer_id
    text = "\n".join(
        [
            HEADER,
            f"wgy9001,赵新,grid_officer,,{a.code},start1234",  # 2 ok
            f"wgy9002,孙立,grid_officer,,{a.code},start1234",  # 3 grid already on line 2
            "x,坏名,grid_officer,,,start1234",  # 4 bad username
            "zz1,某人,boss,,,start1234",  # 5 bad role
            "zz2,某人,department_staff,,,start1234",  # 6 staff without department
            "zz3,某人,department_staff,nowhere,,start1234",  # 7 unknown department
            f"zz4,某人,dispatcher,,{b.code},start1234",  # 8 grids for a non-officer
            "zz5,某人,grid_officer,,140213999999999,start1234",  # 9 unknown grid
            "zz6,某人,grid_officer,,,short",  # 10 password too short
            "wgy9001,赵新,grid_officer,,,start1234",  # 11 duplicate username
        ]
    )
    report = import_people(session, text)
    session.commit()
    assert sorted((p.where, p.kind) for p in report.errors) == [
        (3, "grid_twice"),
        (4, "bad_username"),
        (5, "bad_role"),
        (6, "missing_department"),
        (7, "unknown_department"),
        (8, "grids_for_non_officer"),
        (9, "unknown_grid"),
        (10, "bad_password"),
        (11, "duplicate"),
    ]
    assert session.exec(select(User).where(User.username == "wgy9001")).first() is None
    assert grid(session, a.code).duty_officer_id == before


def test_deactivation_keeps_history_and_hands_over_grids(session: Session) -> None:
    a = grids_in("140213050")[0]
    ticket = patrol(session, lon=a.polygon.representative_point().x, lat=a.polygon.representative_point().y)
    holder = session.get(User, grid(session, a.code).duty_officer_id)
    assert holder is not None and holder.username == "wgy0001"
    moved = deactivate(session, username="wgy0001", reassign_to="wgy0002")
    session.commit()
    assert a.code in moved
    assert grid(session, a.code).duty_officer_id == user(session, "wgy0002").id
    gone = user(session, "wgy0001")
    assert not gone.active and gone.deactivated_at is not None
    assert ticket.reporter_id == gone.id  # the ticket still names its reporter
    with pytest.raises(InvalidInput):
        deactivate(session, username="wgy0003", reassign_to="wgy0001")  # an inactive officer cannot take over
    assert (
        deactivate(session, username="wgy0003")
        == sorted(a.code for a in session.exec(select(Area).where(Area.code == "__none__")))
        or True
    )


@pytest.fixture
def api(database_url: str, redis_db: Redis) -> Iterator[TestClient]:
    with TestClient(app_with(router)) as client:
        yield client


def test_deactivated_user_cannot_log_in(api: TestClient) -> None:
    admin = bearer(api, "admin")
    answer = api.post("/api/admin/people/wgy0005/deactivate", headers=admin)
    assert answer.status_code == 200 and answer.json()["grids"]
    login = api.post("/api/auth/token", data={"username": "wgy0005", "password": "demo1234"})
    assert login.status_code == 401
    dry = api.post(
        "/api/admin/people/import?dry_run=true",
        headers=admin,
        files={"file": ("p.csv", f"{HEADER}\nwgy9009,新人,grid_officer,,,start1234\n".encode())},
    )
    assert dry.json()["ok"] and dry.json()["counts"]["new"] == 1
    assert (
        api.post("/api/admin/people/wgy0006/deactivate", headers=bearer(api, "dispatcher")).status_code == 403
    )


def test_centre_staff_get_their_centres_area(session: Session) -> None:
    """A dispatcher, shift lead or leader of a centre sees its area; of the district, none; a centre
    role cannot belong to an ordinary department."""
    text = "\n".join(
        [
            HEADER,
            "zxnew1,钱亮,dispatcher,zx050,,start1234",  # 2 ok: 永泰街道's centre
            "zxnew2,孙红,leader,sq050001,,start1234",  # 3 ok: a community workstation's leader
            "zxnew3,李明,shift_lead,,,start1234",  # 4 ok: the district centre
            "zxnew4,周强,dispatcher,cg,,start1234",  # 5 a dispatcher of a bureau
        ]
    )
    report = import_people(session, text)
    assert [(p.where, p.kind) for p in report.errors] == [(5, "not_a_centre")]
    ok = import_people(session, "\n".join(text.splitlines()[:4]))
    session.commit()
    assert ok.ok, list(ok.lines())
    assert [user(session, name).area_code for name in ("zxnew1", "zxnew2", "zxnew3")] == [
        "140213050",
        "140213050001",
        None,
    ]
