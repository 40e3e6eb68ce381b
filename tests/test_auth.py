"""Who may see and do what: tokens, roles, department isolation and phone masking.

Citizens' complaints and phone numbers are personal data, and a department must only see the
work sent to it; these are the guarantees the centre gives the citizens and the departments.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select
from starlette.websockets import WebSocketDisconnect

from dispatch import clock
from dispatch.auth.models import User
from dispatch.catalog.models import Department
from dispatch.config import get_settings
from dispatch.db import new_session
from dispatch.demo.geometry import generate_district
from dispatch.events.models import Event
from dispatch.tickets.models import Ticket, TicketLog

Headers = dict[str, str]
Login = Callable[[str], Headers]

PROTECTED = [
    ("GET", "/api/tickets"),
    ("GET", "/api/tickets/1"),
    ("GET", "/api/tickets/1/attachments/1"),
    ("GET", "/api/grids"),
    ("GET", "/api/grids?level=street"),
    ("GET", "/api/categories"),
    ("GET", "/api/departments"),
    ("GET", "/api/auth/me"),
    ("POST", "/api/intake/patrol"),
    ("POST", "/api/intake/hotline"),
]


@pytest.fixture(scope="module")
def points() -> dict[str, tuple[float, float]]:
    """Points inside grids: one outside 古城街道 (140213051) and, for contrast, one inside it."""
    grids = [a for a in generate_district() if a.level == "grid"]
    outside = next(g for g in grids if not g.code.startswith("140213051"))
    inside = next(g for g in grids if g.code.startswith("140213051"))
    result = {}
    for key, grid in (("other_street", outside), ("gucheng", inside)):
        point = grid.polygon.representative_point()
        result[key] = (point.x, point.y)
    return result


def _patrol(client: TestClient, headers: Headers, point: tuple[float, float], category: str) -> int:
    response = client.post(
        "/api/intake/patrol",
        data={
            "lon": str(point[0]),
            "lat": str(point[1]),
            "category_code": category,
            "description": f"巡查发现 {category}",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["ticket_id"])


def _call(**overrides: Any) -> dict[str, Any]:
    return {
        "call_id": "C20261128-0042",
        "caller_name": "李女士",
        "caller_phone": "13812345678",
        "address": "平城区演示路 8 号",
        "request_type": "complaint",
        "category_code": "06010",
        "content": "小区门口垃圾无人清运",
        **overrides,
    }


def _department_id(code: str) -> int:
    with new_session() as session:
        department = session.exec(select(Department).where(Department.code == code)).one()
        assert department.id is not None
        return department.id


def _counts() -> tuple[int, int, int]:
    with new_session() as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(m)).one() for m in (Ticket, Event, TicketLog)
        )


# --- authentication -----------------------------------------------------------------------------


def _expired_token(user_id: int) -> str:
    past = clock.now() - timedelta(hours=1)
    claims = {"sub": str(user_id), "iat": past - timedelta(hours=12), "exp": past}
    return jwt.encode(claims, get_settings().secret_key, algorithm="HS256")


def _bad_tokens() -> dict[str, str]:
    now = clock.now()
    return {
        "garbage": "not-a-jwt",
        "expired": _expired_token(1),
        "wrong-key": jwt.encode(
            {"sub": "1", "iat": now, "exp": now + timedelta(hours=1)},
            "someone-elses-key-that-is-long-enough-for-hs256",
            algorithm="HS256",
        ),
        "no-subject": jwt.encode(
            {"iat": now, "exp": now + timedelta(hours=1)}, get_settings().secret_key, algorithm="HS256"
        ),
        "unknown-user": jwt.encode(
            {"sub": "999999", "iat": now, "exp": now + timedelta(hours=1)},
            get_settings().secret_key,
            algorithm="HS256",
        ),
        "alg-none": jwt.encode({"sub": "1"}, None, algorithm="none"),
    }


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_protected_endpoints_need_a_token(client: TestClient, method: str, path: str) -> None:
    before = _counts()
    response = client.request(method, path)
    assert response.status_code == 401, response.text
    assert response.headers.get("www-authenticate") == "Bearer"
    assert response.json()["detail"] == "需要登录"
    assert _counts() == before


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_protected_endpoints_refuse_bad_tokens(client: TestClient, method: str, path: str) -> None:
    before = _counts()
    for kind, token in _bad_tokens().items():
        response = client.request(method, path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (kind, response.text)
        assert response.json()["detail"] == "登录已失效，请重新登录", kind
    assert _counts() == before


def test_token_expires_after_its_lifetime(client: TestClient) -> None:
    """A token issued longer ago than the configured lifetime no longer opens anything."""
    ttl = get_settings().token_ttl_s
    issued_at = clock.now() - timedelta(seconds=ttl + 60)
    clock.set_clock(lambda: issued_at)
    response = client.post("/api/auth/token", data={"username": "dispatcher", "password": "demo1234"})
    clock.set_clock(None)
    assert response.status_code == 200, response.text
    stale = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert client.get("/api/tickets", headers=stale).status_code == 401


def test_token_of_a_deactivated_user_stops_working(client: TestClient, login: Login) -> None:
    headers = login("cg2")
    assert client.get("/api/tickets", headers=headers).status_code == 200
    with new_session() as session:
        user = session.exec(select(User).where(User.username == "cg2")).one()
        user.active = False
        session.add(user)
        session.commit()
    assert client.get("/api/tickets", headers=headers).status_code == 401
    relogin = client.post("/api/auth/token", data={"username": "cg2", "password": "demo1234"})
    assert relogin.status_code == 401


def test_public_endpoints_need_no_token(client: TestClient) -> None:
    health = client.get("/api/health")
    assert health.status_code == 200
    assert health.json()["database"] == "ok"
    response = client.post("/api/auth/token", data={"username": "hotline", "password": "demo1234"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["username"] == "hotline"
    assert body["user"]["role"] == "hotline_operator"
    assert "password_hash" not in body["user"]
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "hotline"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("dispatcher", "wrong-password"),
        ("dispatcher", "demo12345"),
        ("nobody", "demo1234"),
        ("DISPATCHER", "demo1234"),
    ],
)
def test_wrong_credentials_get_one_chinese_message(client: TestClient, username: str, password: str) -> None:
    response = client.post("/api/auth/token", data={"username": username, "password": password})
    assert response.status_code == 401, response.text
    assert response.json()["detail"] == "用户名或密码错误"
    assert "access_token" not in response.json()


def test_console_websocket_closes_on_a_bad_token(client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/api/console/ws?token=not-a-jwt") as ws,
    ):
        ws.receive_json()
    assert closed.value.code == 4401


# --- roles --------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["wgy0001", "dispatcher", "cg1", "leader"])
def test_only_hotline_staff_enter_calls(client: TestClient, login: Login, username: str) -> None:
    before = _counts()
    response = client.post("/api/intake/hotline", json=_call(), headers=login(username))
    assert response.status_code == 403, response.text
    assert response.json()["detail"] == "当前角色无权执行此操作"
    assert _counts() == before


@pytest.mark.parametrize("username", ["hotline", "dispatcher", "cg1", "admin"])
def test_only_grid_officers_report_patrols(
    client: TestClient, login: Login, username: str, points: dict[str, tuple[float, float]]
) -> None:
    before = _counts()
    lon, lat = points["other_street"]
    response = client.post(
        "/api/intake/patrol",
        data={"lon": str(lon), "lat": str(lat), "category_code": "06010", "description": "测试"},
        headers=login(username),
    )
    assert response.status_code == 403, response.text
    assert _counts() == before


def test_admin_may_enter_a_call(client: TestClient, login: Login) -> None:
    response = client.post("/api/intake/hotline", json=_call(call_id="ADMIN-0001"), headers=login("admin"))
    assert response.status_code == 201, response.text


# --- who sees which ticket ----------------------------------------------------------------------


@pytest.fixture
def routed(
    client: TestClient, login: Login, run_worker: Callable[[], None], points: dict[str, tuple[float, float]]
) -> dict[str, int]:
    """Tickets routed by the real worker: one to 城管 (cg), one to 公安 (ga), one to 古城街道, one hotline."""
    officer = login("wgy0001")
    ids = {
        "cg": _patrol(client, officer, points["other_street"], "06010"),
        "ga": _patrol(client, officer, points["other_street"], "09009"),
        "street": _patrol(client, officer, points["gucheng"], "06010"),
    }
    lon, lat = points["other_street"]
    call = client.post("/api/intake/hotline", json=_call(lon=lon, lat=lat), headers=login("hotline"))
    assert call.status_code == 201, call.text
    ids["call"] = call.json()["ticket_id"]
    run_worker()
    with new_session() as session:
        tickets = {key: session.get(Ticket, ticket_id) for key, ticket_id in ids.items()}
    departments = {key: t.department_id for key, t in tickets.items() if t is not None}
    assert all(t is not None and t.state == "dispatched" for t in tickets.values()), tickets
    assert departments == {
        "cg": _department_id("cg"),
        "ga": _department_id("ga"),
        "street": _department_id("jd051"),
        "call": _department_id("cg"),
    }
    return ids


def _visible(client: TestClient, headers: Headers) -> set[int]:
    response = client.get("/api/tickets", headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def test_department_sees_only_its_own_tickets(
    client: TestClient, login: Login, routed: dict[str, int]
) -> None:
    for username in ("cg1", "cg2"):
        headers = login(username)
        assert _visible(client, headers) == {routed["cg"], routed["call"]}
        assert client.get(f"/api/tickets/{routed['cg']}", headers=headers).status_code == 200
        for other in ("ga", "street"):
            hidden = client.get(f"/api/tickets/{routed[other]}", headers=headers)
            assert hidden.status_code == 404, hidden.text
            assert hidden.json()["detail"] == "工单不存在"
    ga = login("ga1")
    assert _visible(client, ga) == {routed["ga"]}
    assert client.get(f"/api/tickets/{routed['cg']}", headers=ga).status_code == 404
    # A ticket that does not exist answers exactly like one that is hidden.
    missing = client.get("/api/tickets/987654", headers=ga)
    assert (missing.status_code, missing.json()) == (404, {"detail": "工单不存在"})


def test_department_cannot_fetch_another_departments_attachment(
    client: TestClient, login: Login, routed: dict[str, int]
) -> None:
    response = client.get(f"/api/tickets/{routed['cg']}/attachments/1", headers=login("ga1"))
    assert response.status_code == 404
    assert response.json()["detail"] == "工单不存在"


def test_centre_sees_everything_officer_and_hotline_their_own(
    client: TestClient, login: Login, routed: dict[str, int]
) -> None:
    everything = set(routed.values())
    for username in ("dispatcher", "shiftlead", "leader", "admin"):
        assert _visible(client, login(username)) == everything, username
    assert _visible(client, login("wgy0001")) == {routed["cg"], routed["ga"], routed["street"]}
    assert _visible(client, login("wgy0002")) == set()
    assert client.get(f"/api/tickets/{routed['cg']}", headers=login("wgy0002")).status_code == 404
    assert _visible(client, login("hotline")) == {routed["call"]}


def test_caller_phone_is_masked_except_for_hotline_staff(
    client: TestClient, login: Login, routed: dict[str, int]
) -> None:
    call_id = routed["call"]
    for username in ("dispatcher", "leader", "cg1", "cg2"):
        headers = login(username)
        listed = {i["id"]: i for i in client.get("/api/tickets", headers=headers).json()["items"]}
        detail = client.get(f"/api/tickets/{call_id}", headers=headers).json()
        assert listed[call_id]["caller_phone"] == "138****5678", username
        assert detail["caller_phone"] == "138****5678", username
        assert "13812345678" not in client.get(f"/api/tickets/{call_id}", headers=headers).text
    hotline = login("hotline")
    assert client.get(f"/api/tickets/{call_id}", headers=hotline).json()["caller_phone"] == "13812345678"
    listed = {i["id"]: i for i in client.get("/api/tickets", headers=hotline).json()["items"]}
    assert listed[call_id]["caller_phone"] == "13812345678"
    # The name is shown to the department (it needs to address the citizen), the number is not.
    assert client.get(f"/api/tickets/{call_id}", headers=login("cg1")).json()["caller_name"] == "李女士"
