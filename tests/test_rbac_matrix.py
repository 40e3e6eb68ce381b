"""Issue 9, the RBAC matrix: every role on every endpoint, department isolation, phone masking and the
console websocket, so the promises stay true as endpoints are added.

`ENDPOINTS` names every route the app serves and who may call it. A route the app serves that is not in
the table fails `test_every_route_is_in_the_matrix`: whoever adds an endpoint states who may call it.

What the product promises (README "Login and permissions", tickets/service.get_visible):
- no token → 401 everywhere except the health probes, the login, the static pages (web/) and the API
  description (/openapi.json, /docs, /redoc; README says only health and login: see ENDPOINTS);
- a role the route is not for → 403 (`require_role`, or `workflow.authorize` for ticket actions);
- a ticket the caller may not see → 404 on every ticket-scoped route, whatever the role could otherwise
  do there ("no hint that it exists"): a department sees the tickets it holds or co-handles, hotline staff
  12345 tickets, a grid officer their own reports, the centre (dispatcher, shift lead, leader, admin) all;
- citizens' phones appear only masked (139****1111) to everyone but hotline staff, in every answer and
  every console message.

The matrix calls ticket actions on tickets that are 不予受理 (rejected, a state no action leaves), so a
caller the action is for gets 409 from the state check that follows the role and department checks, and
nothing changes; admin writes are dry runs or refer to things that do not exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import select
from starlette.routing import Mount, WebSocketRoute
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from dispatch.app import WEB_DIR, create_app
from dispatch.auth.models import Role, User
from dispatch.auth.service import issue_token
from dispatch.db import new_session
from tests.helpers import grids_in, inside, other_communities
from tests.workflow_helpers import Desk, department_id, png_bytes

Headers = dict[str, str]
RunWorker = Callable[[], None]

FAR_COMMUNITY, NEIGHBOUR_COMMUNITY = other_communities()
ANONYMOUS = "anonymous"
# One demo login per role, and both kinds of department (a district bureau and a street office).
USERS: dict[str, Role] = {
    "admin": Role.ADMIN,
    "dispatcher": Role.DISPATCHER,
    "shiftlead": Role.SHIFT_LEAD,
    "leader": Role.LEADER,
    "hotline": Role.HOTLINE,
    "cg1": Role.DEPARTMENT,  # 区城市管理局
    "jd0501": Role.DEPARTMENT,  # 永泰街道办事处 (a street office)
    "wgy0001": Role.GRID_OFFICER,
    "jdzx": Role.DISPATCHER,  # 永泰街道's centre: sees its street, steers what the centre holds
    "sqzx": Role.DISPATCHER,  # the first grid's community workstation: sees its community
}
CALLERS = (ANONYMOUS, *USERS)
OTHER_DEPARTMENT = "ga1"  # 市公安局平城分局: holds the tickets cg1 and jd0501 must not see

PHONES = {
    "call": "13900001111",
    "foreign": "13900002222",
    "dup": "13900003333",
    "moved": "13900004444",
    "intake": "13900005555",
    "sentinel": "13900006666",
    "far": "13900007777",
    "neighbour": "13900008888",
}
RAW_PHONES = frozenset(PHONES.values())
FAR_DEADLINE = "2030-01-01T00:00:00+08:00"

# The demo tickets `build_world` makes, and who may open which.
IN_COMMUNITY = frozenset(
    {"call", "patrol", "foreign", "assist", "dup1", "dup2", "moved", "community", "street"}
)
CENTRE_SEES = IN_COMMUNITY | {"far", "neighbour"}
VISIBLE: dict[str, frozenset[str]] = {
    "admin": CENTRE_SEES,
    "dispatcher": CENTRE_SEES,
    "shiftlead": CENTRE_SEES,
    "leader": CENTRE_SEES,
    "hotline": frozenset({"call", "foreign", "dup1", "dup2", "moved", "far", "neighbour"}),  # 12345 tickets
    "cg1": frozenset({"call", "assist", "dup1"}),  # holds call and dup1, co-handles assist
    "jd0501": frozenset({"patrol"}),
    "wgy0001": frozenset({"patrol", "community", "street"}),  # their own reports (assist is wgy0002's)
    OTHER_DEPARTMENT: frozenset({"foreign", "assist", "dup2", "moved"}),
    "jdzx": IN_COMMUNITY | {"neighbour"},  # its street: not another street's community
    "sqzx": IN_COMMUNITY,  # its community: not the neighbouring one of the same street
}
# Tickets redispatched away from a department: its console may learn of that move, nothing else.
LEFT: dict[str, frozenset[str]] = {"cg1": frozenset({"dup2", "moved"})}
LEFT_TICKET_KEYS = {"id", "number", "state", "department_id", "department_name"}


@dataclass
class World:
    """The demo district plus tickets in known states, and a token per demo login."""

    desk: Desk
    tickets: dict[str, int] = field(default_factory=dict)
    attachments: dict[int, int] = field(default_factory=dict)  # ticket id → one of its photos
    notices: dict[int, int] = field(default_factory=dict)  # ticket id → one of its 督办 notices
    departments: dict[str, int] = field(default_factory=dict)
    version_id: int = 0
    rule_id: int = 0

    def headers(self, caller: str) -> Headers:
        return {} if caller == ANONYMOUS else self.desk.headers(caller)

    def own_ticket(self, caller: str) -> int:
        """A 不予受理 ticket the caller may open (anonymous: any ticket); a centre's, one it holds."""
        own = {"jd0501": "patrol", "wgy0001": "patrol", "sqzx": "community", "jdzx": "street"}
        return self.tickets[own.get(caller, "call")]


# --- the matrix ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    data: dict[str, Any] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None


Build = Callable[[World, int], Call]  # (world, the caller's own ticket) → the request


@dataclass(frozen=True)
class Endpoint:
    """Who may call one route (None: anyone, no login), and the harmless request the matrix sends.

    `ok` is what a caller the route is for gets; `ticket` marks routes scoped to one ticket, which answer
    404 for a ticket the caller may not see."""

    allowed: frozenset[Role] | None
    build: Build
    ok: frozenset[int] = frozenset({200})
    ticket: bool = False


PUBLIC = None
ANY_USER = frozenset(Role)
ADMIN = frozenset({Role.ADMIN})
CENTRE = frozenset({Role.DISPATCHER, Role.SHIFT_LEAD})
DEPARTMENT = frozenset({Role.DEPARTMENT})
SHIFT_LEAD = frozenset({Role.SHIFT_LEAD})
STATS = frozenset({Role.LEADER, Role.SHIFT_LEAD, Role.DISPATCHER, Role.ADMIN})
CONFLICT = frozenset({409})  # the role may take the action, a rejected ticket's state may not


def get(path: str, **params: Any) -> Build:
    return lambda w, t: Call(path, params=params)


def upload(path: str, name: str, content: bytes, **params: Any) -> Build:
    return lambda w, t: Call(path, params=params, files=[("file", (name, content, "text/plain"))])


def action(path: str, body: dict[str, Any] | None = None) -> Build:
    return lambda w, t: Call(f"/api/tickets/{t}/{path}", json=body)


def _hotline_call(w: World, t: int) -> Call:
    lon, lat = inside(grids_in("140213050")[0])
    body = {
        "call_id": "RBAC-MATRIX-CALL",
        "caller_name": "周先生",
        "caller_phone": PHONES["intake"],
        "address": "永泰街道演示小区",
        "request_type": "complaint",
        "category_code": "06010",
        "content": "垃圾未清运",
        "lon": lon,
        "lat": lat,
    }
    return Call("/api/intake/hotline", json=body)


def _hotline_batch(w: World, t: int) -> Call:
    call = _hotline_call(w, t).json
    assert call is not None
    return Call("/api/intake/hotline/batch", json={"calls": [{**call, "call_id": "RBAC-MATRIX-BATCH"}]})


def _patrol(w: World, t: int) -> Call:
    lon, lat = inside(grids_in("140213050")[1])
    data = {
        "lon": lon,
        "lat": lat,
        "category_code": "06010",
        "description": "巡查发现垃圾",
        "client_ref": "rbac-matrix-patrol",
    }
    return Call("/api/intake/patrol", data=data)


def _similar(w: World, t: int) -> Call:
    lon, lat = inside(grids_in("140213050")[0])
    return Call("/api/tickets/similar", params={"category_code": "06010", "lon": lon, "lat": lat})


def _bad_rule(w: World, t: int) -> dict[str, str]:
    return {"category_code": "06010", "area_code": "140213050", "department_code": "no-such-department"}


PERIOD = {"date_from": "2020-01-01T00:00:00+08:00", "date_to": "2035-01-01T00:00:00+08:00"}
GEOJSON = b'{"type": "FeatureCollection", "features": []}'
CALENDAR_2027 = (WEB_DIR.parent / "docs" / "calendar" / "2027-example.yaml").read_bytes()
SCORING_YAML = (WEB_DIR.parent / "dispatch" / "demo" / "scoring.yaml").read_bytes()
SCORING_JSON = {
    unit: {"rates": {"closure_rate": 100}} for unit in ("department", "street", "community", "officer")
}

ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    # Public: health, login, FastAPI's API description, the static pages.
    ("GET", "/api/health"): Endpoint(PUBLIC, get("/api/health")),
    ("GET", "/api/health/live"): Endpoint(PUBLIC, get("/api/health/live")),
    ("GET", "/api/health/ready"): Endpoint(PUBLIC, get("/api/health/ready")),
    ("POST", "/api/auth/token"): Endpoint(
        PUBLIC, lambda w, t: Call("/api/auth/token", data={"username": "leader", "password": "demo1234"})
    ),
    ("GET", "/openapi.json"): Endpoint(PUBLIC, get("/openapi.json")),
    ("GET", "/docs"): Endpoint(PUBLIC, get("/docs")),
    ("GET", "/redoc"): Endpoint(PUBLIC, get("/redoc")),
    ("STATIC", "/"): Endpoint(PUBLIC, get("/")),  # web/: pages and scripts, no data
    # Open311 GeoReport v2: reads are public (requests filed through Open311 only, nobody's name or phone);
    # filing needs an API key (here none: the spec's 401 error list, whoever is logged in).
    ("GET", "/open311/v2/discovery.{fmt}"): Endpoint(PUBLIC, get("/open311/v2/discovery.json")),
    ("GET", "/open311/v2/services.{fmt}"): Endpoint(PUBLIC, get("/open311/v2/services.xml")),
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): Endpoint(
        PUBLIC, get("/open311/v2/services/06010.json")
    ),
    ("GET", "/open311/v2/requests.{fmt}"): Endpoint(PUBLIC, get("/open311/v2/requests.json")),
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): Endpoint(
        PUBLIC, get("/open311/v2/requests/RX0.json"), frozenset({404})
    ),
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): Endpoint(
        PUBLIC, get("/open311/v2/tokens/RX0.json"), frozenset({404})
    ),
    # The city 12345 platform: its API key and signature, whoever is logged in (none here: 401).
    ("POST", "/city12345/v1/tickets"): Endpoint(
        PUBLIC, lambda w, t: Call("/city12345/v1/tickets", json={}), frozenset({401})
    ),
    ("POST", "/city12345/v1/receipts"): Endpoint(
        PUBLIC, lambda w, t: Call("/city12345/v1/receipts", json={}), frozenset({401})
    ),
    ("POST", "/open311/v2/requests.{fmt}"): Endpoint(
        PUBLIC,
        lambda w, t: Call("/open311/v2/requests.json", data={"service_code": "06010"}),
        frozenset({401}),
    ),
    # Any logged-in user.
    ("GET", "/api/auth/me"): Endpoint(ANY_USER, get("/api/auth/me")),
    ("GET", "/api/tickets"): Endpoint(ANY_USER, get("/api/tickets")),
    ("GET", "/api/exports/tickets"): Endpoint(ANY_USER, get("/api/exports/tickets")),
    ("GET", "/api/exports/timelines"): Endpoint(ANY_USER, get("/api/exports/timelines", format="xlsx")),
    ("GET", "/api/grids"): Endpoint(ANY_USER, get("/api/grids", level="street")),
    ("GET", "/api/categories"): Endpoint(ANY_USER, get("/api/categories")),
    ("GET", "/api/departments"): Endpoint(ANY_USER, get("/api/departments")),
    ("GET", "/api/places"): Endpoint(ANY_USER, get("/api/places", area_code="140213050")),
    ("GET", "/api/calendar"): Endpoint(
        ANY_USER, get("/api/calendar", **{"from": "2026-01-01", "to": "2026-01-31"})
    ),
    ("WS", "/api/console/ws"): Endpoint(ANY_USER, get("/api/console/ws")),  # test_console_websocket_per_role
    # Intake.
    ("POST", "/api/intake/patrol"): Endpoint(
        frozenset({Role.GRID_OFFICER}), _patrol, ok=frozenset({200, 201})
    ),
    ("POST", "/api/intake/hotline"): Endpoint(
        frozenset({Role.HOTLINE, Role.ADMIN}), _hotline_call, ok=frozenset({200, 201})
    ),
    ("POST", "/api/intake/hotline/batch"): Endpoint(frozenset({Role.HOTLINE, Role.ADMIN}), _hotline_batch),
    ("GET", "/api/tickets/similar"): Endpoint(
        frozenset({Role.HOTLINE, Role.DISPATCHER, Role.SHIFT_LEAD, Role.GRID_OFFICER}),
        _similar,
    ),
    # One ticket: whoever may see it.
    ("GET", "/api/tickets/{ticket_id}"): Endpoint(
        ANY_USER, lambda w, t: Call(f"/api/tickets/{t}"), ticket=True
    ),
    ("GET", "/api/tickets/{ticket_id}/attachments/{attachment_id}"): Endpoint(
        ANY_USER, lambda w, t: Call(f"/api/tickets/{t}/attachments/{w.attachments[t]}"), ticket=True
    ),
    ("GET", "/api/tickets/{ticket_id}/nearby-places"): Endpoint(
        ANY_USER, lambda w, t: Call(f"/api/tickets/{t}/nearby-places"), ticket=True
    ),
    # Workflow actions (README table; transitions.ACTION_ROLES).
    ("POST", "/api/tickets/{ticket_id}/dispatch"): Endpoint(
        CENTRE,
        lambda w, t: Call(f"/api/tickets/{t}/dispatch", json={"department_id": w.departments["cg"]}),
        CONFLICT,
        True,
    ),
    ("POST", "/api/tickets/{ticket_id}/redispatch"): Endpoint(
        CENTRE,
        lambda w, t: Call(f"/api/tickets/{t}/redispatch", json={"department_id": w.departments["ga"]}),
        CONFLICT,
        True,
    ),
    ("POST", "/api/tickets/{ticket_id}/overrule"): Endpoint(
        CENTRE, action("overrule", {"note": "理由不成立"}), CONFLICT, True
    ),
    ("POST", "/api/tickets/{ticket_id}/reject"): Endpoint(
        CENTRE, action("reject", {"reason": "不属受理范围"}), CONFLICT, True
    ),
    ("POST", "/api/tickets/{ticket_id}/sign"): Endpoint(DEPARTMENT, action("sign"), CONFLICT, True),
    ("POST", "/api/tickets/{ticket_id}/return"): Endpoint(
        DEPARTMENT, action("return", {"reason": "非本部门职责"}), CONFLICT, True
    ),
    ("POST", "/api/tickets/{ticket_id}/extensions"): Endpoint(
        DEPARTMENT,
        action("extensions", {"new_deadline_at": FAR_DEADLINE, "reason": "需协调"}),
        CONFLICT,
        True,
    ),
    ("POST", "/api/tickets/{ticket_id}/extensions/{request_id}/approve"): Endpoint(
        SHIFT_LEAD, action("extensions/999999/approve", {"note": ""}), CONFLICT, True
    ),
    ("POST", "/api/tickets/{ticket_id}/extensions/{request_id}/refuse"): Endpoint(
        SHIFT_LEAD, action("extensions/999999/refuse", {"note": "不同意"}), CONFLICT, True
    ),
    ("POST", "/api/tickets/{ticket_id}/suspend"): Endpoint(
        SHIFT_LEAD, action("suspend", {"reason": "长期工程"}), CONFLICT, True
    ),
    ("POST", "/api/tickets/{ticket_id}/resume"): Endpoint(
        SHIFT_LEAD, action("resume", {"note": ""}), CONFLICT, True
    ),
    ("POST", "/api/tickets/{ticket_id}/feedback"): Endpoint(
        DEPARTMENT, lambda w, t: Call(f"/api/tickets/{t}/feedback", data={"text": "已处置"}), CONFLICT, True
    ),
    ("POST", "/api/tickets/{ticket_id}/verify"): Endpoint(
        CENTRE, action("verify", {"passed": True, "note": ""}), CONFLICT, True
    ),
    ("POST", "/api/tickets/{ticket_id}/callback"): Endpoint(
        frozenset({Role.HOTLINE, Role.SHIFT_LEAD}),
        action("callback", {"satisfaction": "satisfied"}),
        CONFLICT,
        True,
    ),
    ("POST", "/api/tickets/{ticket_id}/urge"): Endpoint(
        frozenset({Role.DISPATCHER, Role.SHIFT_LEAD, Role.LEADER}),
        action("urge", {"message": "请加快办理"}),
        CONFLICT,
        True,
    ),
    ("POST", "/api/tickets/{ticket_id}/notices/{notice_id}/ack"): Endpoint(
        DEPARTMENT,
        lambda w, t: Call(f"/api/tickets/{t}/notices/{w.notices.get(t, 1)}/ack"),
        CONFLICT,
        True,
    ),
    ("POST", "/api/tickets/{ticket_id}/escalate"): Endpoint(
        frozenset({Role.GRID_OFFICER, Role.DEPARTMENT, Role.DISPATCHER, Role.SHIFT_LEAD}),
        action("escalate", {"note": "上报"}),
        CONFLICT,
        True,
    ),
    ("GET", "/api/tickets/{ticket_id}/assignees"): Endpoint(ANY_USER, action("assignees"), ticket=True),
    ("POST", "/api/tickets/{ticket_id}/assign"): Endpoint(
        CENTRE | DEPARTMENT, action("assign", {"user_id": 1}), CONFLICT, True
    ),
    ("POST", "/api/tickets/{ticket_id}/hand-down"): Endpoint(
        CENTRE,
        lambda w, t: Call(f"/api/tickets/{t}/hand-down", json={"centre_id": w.departments["zx050"]}),
        CONFLICT,
        True,
    ),
    ("POST", "/api/tickets/{ticket_id}/assists"): Endpoint(
        CENTRE,
        lambda w, t: Call(
            f"/api/tickets/{t}/assists",
            json={"department_id": w.departments["zj"], "part": "协助", "deadline_at": FAR_DEADLINE},
        ),
        CONFLICT,
        True,
    ),
    ("POST", "/api/tickets/{ticket_id}/assists/{task_id}/sign"): Endpoint(
        DEPARTMENT, action("assists/999999/sign"), CONFLICT, True
    ),
    ("POST", "/api/tickets/{ticket_id}/assists/{task_id}/feedback"): Endpoint(
        DEPARTMENT, action("assists/999999/feedback", {"text": "协办完成"}), CONFLICT, True
    ),
    ("POST", "/api/tickets/{ticket_id}/merge"): Endpoint(
        CENTRE,
        lambda w, t: Call(f"/api/tickets/{t}/merge", json={"into_ticket_id": t, "confirm": True}),
        CONFLICT,
        True,
    ),
    # Field verification: a centre sends it; its officer (or workstation, for 抽查) answers; another
    # caller learns nothing of a task that is not theirs (404, as for a task that does not exist).
    ("POST", "/api/tickets/{ticket_id}/verification"): Endpoint(
        CENTRE, action("verification", {"note": "请核实"}), CONFLICT, True
    ),
    ("GET", "/api/verifications"): Endpoint(ANY_USER, get("/api/verifications", status="all")),
    ("GET", "/api/verifications/{task_id}"): Endpoint(
        ANY_USER, lambda w, t: Call("/api/verifications/999999"), frozenset({404})
    ),
    ("POST", "/api/verifications/{task_id}/answer"): Endpoint(
        ANY_USER,
        lambda w, t: Call("/api/verifications/999999/answer", data={"answer": "fixed"}),
        frozenset({404}),
    ),
    # Statistics, routing, addresses.
    ("GET", "/api/stats/heat"): Endpoint(STATS, get("/api/stats/heat", **PERIOD)),
    ("GET", "/api/stats/kpis"): Endpoint(STATS, get("/api/stats/kpis", format="csv", **PERIOD)),
    ("GET", "/api/stats/people"): Endpoint(STATS | DEPARTMENT, get("/api/stats/people", **PERIOD)),
    # 考核: department staff their own department's row (tests/test_scoring.py: who sees which rows).
    ("GET", "/api/stats/scores"): Endpoint(
        STATS | DEPARTMENT, get("/api/stats/scores", format="xlsx", **PERIOD)
    ),
    ("GET", "/api/routing/explain"): Endpoint(
        frozenset({Role.DISPATCHER, Role.SHIFT_LEAD, Role.ADMIN}),
        lambda w, t: Call("/api/routing/explain", params={"ticket_id": t}),
    ),
    ("GET", "/api/gazetteer/locate"): Endpoint(
        frozenset({Role.HOTLINE, Role.DISPATCHER, Role.SHIFT_LEAD, Role.ADMIN}),
        get("/api/gazetteer/locate", q="御河北路1号"),
    ),
    # Admin only: dry runs, reads, and writes about things that do not exist.
    ("POST", "/api/admin/grids/import"): Endpoint(
        ADMIN, upload("/api/admin/grids/import", "g.geojson", GEOJSON, dry_run="true")
    ),
    ("GET", "/api/admin/grids/export"): Endpoint(ADMIN, get("/api/admin/grids/export")),
    ("GET", "/api/admin/grids/versions"): Endpoint(ADMIN, get("/api/admin/grids/versions")),
    ("POST", "/api/admin/grids/versions/{version_id}/activate"): Endpoint(
        ADMIN, lambda w, t: Call(f"/api/admin/grids/versions/{w.version_id}/activate")
    ),
    ("POST", "/api/admin/grids/versions/{version_id}/deactivate"): Endpoint(
        ADMIN,
        lambda w, t: Call(f"/api/admin/grids/versions/{w.version_id}/deactivate"),
        frozenset({422}),  # the last active version cannot be switched off
    ),
    ("PUT", "/api/admin/departments/{code}"): Endpoint(
        ADMIN, lambda w, t: Call("/api/admin/departments/rbac", json={"name": "矩阵测试部门"})
    ),
    ("DELETE", "/api/admin/departments/{code}"): Endpoint(
        ADMIN, lambda w, t: Call("/api/admin/departments/no-such-department"), frozenset({404})
    ),
    ("GET", "/api/admin/rules"): Endpoint(ADMIN, get("/api/admin/rules")),
    ("POST", "/api/admin/rules"): Endpoint(
        ADMIN, lambda w, t: Call("/api/admin/rules", json=_bad_rule(w, t)), frozenset({422})
    ),
    ("PUT", "/api/admin/rules/{rule_id}"): Endpoint(
        ADMIN, lambda w, t: Call(f"/api/admin/rules/{w.rule_id}", json=_bad_rule(w, t)), frozenset({422})
    ),
    ("DELETE", "/api/admin/rules/{rule_id}"): Endpoint(
        ADMIN, lambda w, t: Call("/api/admin/rules/999999"), frozenset({404})
    ),
    ("POST", "/api/admin/catalog/{kind}/import"): Endpoint(
        ADMIN,
        upload(
            "/api/admin/catalog/departments/import",
            "d.csv",
            "code,name,kind\nrbac,测试,department\n".encode(),
            dry_run="true",
        ),
    ),
    ("GET", "/api/admin/catalog/{kind}/export"): Endpoint(
        ADMIN, get("/api/admin/catalog/departments/export")
    ),
    ("POST", "/api/admin/gazetteer/import"): Endpoint(
        ADMIN,
        upload(
            "/api/admin/gazetteer/import",
            "a.csv",
            "kind,road,number,compound,building,name,aliases,lon,lat\nroad_number,御河北路,1,,,,,113.1945667,40.0761379\n".encode(),
            dry_run="true",
        ),
    ),
    ("POST", "/api/admin/people/import"): Endpoint(
        ADMIN,
        upload("/api/admin/people/import", "p.csv", b"username,full_name,role\n", dry_run="true"),
    ),
    ("POST", "/api/admin/people/{username}/deactivate"): Endpoint(
        ADMIN, lambda w, t: Call("/api/admin/people/no-such-user/deactivate"), frozenset({404})
    ),
    ("POST", "/api/admin/places/import"): Endpoint(
        ADMIN,
        upload("/api/admin/places/import", "p.csv", b"kind,name,lon,lat\n", owner="rbac", dry_run="true"),
    ),
    ("GET", "/api/admin/audit"): Endpoint(ADMIN, get("/api/admin/audit", format="csv")),
    ("GET", "/api/admin/webhooks"): Endpoint(ADMIN, get("/api/admin/webhooks")),
    ("POST", "/api/admin/webhooks"): Endpoint(
        ADMIN,
        lambda w, t: Call("/api/admin/webhooks", json={"name": "矩阵", "url": "ftp://x.invalid/h"}),
        frozenset({422}),
    ),
    ("POST", "/api/admin/webhooks/{subscription_id}/resume"): Endpoint(
        ADMIN, lambda w, t: Call("/api/admin/webhooks/999999/resume"), frozenset({404})
    ),
    ("DELETE", "/api/admin/webhooks/{subscription_id}"): Endpoint(
        ADMIN, lambda w, t: Call("/api/admin/webhooks/999999"), frozenset({404})
    ),
    ("GET", "/api/admin/deliveries"): Endpoint(ADMIN, get("/api/admin/deliveries")),
    ("POST", "/api/admin/deliveries/{message_id}/retry"): Endpoint(
        ADMIN, lambda w, t: Call("/api/admin/deliveries/999999/retry"), frozenset({404})
    ),
    ("GET", "/api/admin/api-keys"): Endpoint(ADMIN, get("/api/admin/api-keys")),
    ("POST", "/api/admin/api-keys"): Endpoint(
        ADMIN, lambda w, t: Call("/api/admin/api-keys", json={"name": "矩阵", "scopes": []}), frozenset({422})
    ),
    ("POST", "/api/admin/api-keys/{key_id}/rotate"): Endpoint(
        ADMIN, lambda w, t: Call("/api/admin/api-keys/999999/rotate"), frozenset({404})
    ),
    ("POST", "/api/admin/api-keys/{key_id}/revoke"): Endpoint(
        ADMIN, lambda w, t: Call("/api/admin/api-keys/999999/revoke"), frozenset({404})
    ),
    ("GET", "/api/admin/api-keys/{key_id}/uses"): Endpoint(
        ADMIN, lambda w, t: Call("/api/admin/api-keys/999999/uses"), frozenset({404})
    ),
    ("GET", "/metrics"): Endpoint(ADMIN, get("/metrics")),  # or the GRID_METRICS_TOKEN (Prometheus)
    ("GET", "/api/admin/calendar"): Endpoint(ADMIN, get("/api/admin/calendar")),
    ("GET", "/api/admin/scoring-templates"): Endpoint(ADMIN, get("/api/admin/scoring-templates")),
    ("PUT", "/api/admin/scoring-templates"): Endpoint(
        ADMIN,
        lambda w, t: Call("/api/admin/scoring-templates", params={"dry_run": "true"}, json=SCORING_JSON),
    ),
    ("POST", "/api/admin/scoring-templates/import"): Endpoint(
        ADMIN, upload("/api/admin/scoring-templates/import", "t.yaml", SCORING_YAML, dry_run="true")
    ),
    ("GET", "/api/admin/scoring-templates/export"): Endpoint(
        ADMIN, get("/api/admin/scoring-templates/export", fmt="csv")
    ),
    ("GET", "/api/admin/scoring-templates/{version}"): Endpoint(ADMIN, get("/api/admin/scoring-templates/1")),
    ("GET", "/api/admin/calendar/{year}"): Endpoint(ADMIN, get("/api/admin/calendar/2026")),
    ("GET", "/api/admin/calendar/{year}/export"): Endpoint(ADMIN, get("/api/admin/calendar/2026/export")),
    ("POST", "/api/admin/calendar/import"): Endpoint(
        ADMIN, upload("/api/admin/calendar/import", "2027.yaml", CALENDAR_2027, dry_run="true")
    ),
}


def served_routes() -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves; HEAD rides along with GET."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(create_app().routes):
        route = context.original_route
        if isinstance(route, Mount):
            found.add(("STATIC", route.path or "/"))
        elif isinstance(route, WebSocketRoute) or context.methods is None:
            found.add(("WS", str(context.path)))
        else:
            found.update((method, str(context.path)) for method in context.methods - {"HEAD"})
    return found


def test_every_route_is_in_the_matrix() -> None:
    """A new endpoint fails here until ENDPOINTS says who may call it (and a removed one until dropped)."""
    served = served_routes()
    assert sorted(served - ENDPOINTS.keys()) == [], "routes with no row in ENDPOINTS: say who may call them"
    assert sorted(ENDPOINTS.keys() - served) == [], "rows in ENDPOINTS for routes the app no longer serves"


# --- the world -----------------------------------------------------------------------------------


def fast_login(username: str) -> Headers:
    """Bearer headers for a demo account, minted directly: the matrix tests permissions, not passwords
    (test_auth does), and skipping a dozen argon2 checks per test keeps it quick."""
    with new_session() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return {"Authorization": f"Bearer {issue_token(user)}"}


def token(world: World, caller: str) -> str:
    return world.headers(caller).get("Authorization", "").removeprefix("Bearer ")


def post_patrol(world: World, officer: str, category: str, *, photo: bool = False) -> int:
    lon, lat = inside(grids_in("140213050")[0])  # the first grid: sqzx's community, jdzx's street
    data = {"lon": lon, "lat": lat, "category_code": category, "description": "巡查发现问题"}
    files = [("photos", ("spot.png", png_bytes(), "image/png"))] if photo else None
    answer = world.desk.client.post(
        "/api/intake/patrol", data=data, files=files, headers=world.desk.headers(officer)
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["ticket_id"])


def feedback(world: World, user: str, ticket: int, text: str, *, photo: bool = False) -> dict[str, Any]:
    files = [("photos", ("done.png", png_bytes("blue"), "image/png"))] if photo else None
    answer = world.desk.client.post(
        f"/api/tickets/{ticket}/feedback", data={"text": text}, files=files, headers=world.desk.headers(user)
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


SECRET_FEEDBACK = "公安已处置：当事人住址见附件"  # written by ga after cg lost the ticket
SECRET_URGE = "请公安分局加快办理"  # a 督办 of ga's, after cg lost the ticket


def build_world(client: TestClient, run_worker: RunWorker) -> World:
    """Tickets in known hands and states (all in 永泰街道 140213050):

    call     12345 call → cg; 督办, signed, fed back with a photo, 返工, returned, 不予受理
    patrol   wgy0001's report with a photo → jd050 (street office); 督办, returned, 不予受理
    foreign  12345 call → ga, dispatched
    assist   wgy0002's report → ga, co-handled by cg
    dup1     12345 call → cg;  dup2: the same caller and place → cg (duplicate of dup1), 改派 to ga
    moved    12345 call → cg, signed, returned, 改派 to ga, which signs and feeds back
    """
    desk = Desk(client, fast_login)
    codes = ("cg", "ga", "zj", "sw", "jd050", "zx050")
    world = World(desk=desk, departments={c: department_id(c) for c in codes})
    t = world.tickets
    t["call"] = desk.call("RBAC-CALL", category="06010", caller_phone=PHONES["call"])
    t["patrol"] = post_patrol(world, "wgy0001", "20001", photo=True)  # 邻里纠纷 → the street office
    t["foreign"] = desk.call("RBAC-FOREIGN", category="09009", caller_phone=PHONES["foreign"])
    t["assist"] = post_patrol(world, "wgy0002", "09009")
    same_caller = {"caller_phone": PHONES["dup"], "address": "永泰街道演示小区5号楼"}
    t["dup1"] = desk.call("RBAC-DUP-1", category="06010", **same_caller)
    t["moved"] = desk.call("RBAC-MOVED", category="06010", caller_phone=PHONES["moved"])
    t["community"] = post_patrol(world, "wgy0001", "06030", photo=True)  # 楼道堆物 → the community
    t["street"] = post_patrol(world, "wgy0001", "06030", photo=True)
    for name, area in (("far", FAR_COMMUNITY), ("neighbour", NEIGHBOUR_COMMUNITY)):
        lon, lat = inside(grids_in(area.code)[0])
        t[name] = desk.call(  # 供水问题 → 区水务局 wherever it is
            f"RBAC-{name}", category="22003", located=False, lon=lon, lat=lat, caller_phone=PHONES[name]
        )
    run_worker()
    t["dup2"] = desk.call("RBAC-DUP-2", category="06010", **same_caller)
    run_worker()
    desk.act("sqzx", t["street"], "escalate", {"note": "需街道协调"})
    for centre, name in (("sqzx", "community"), ("jdzx", "street")):
        assert desk.act(centre, t[name], "reject", {"reason": "不属于网格事项"})["state"] == "rejected"
        world.attachments[t[name]] = desk.get(centre, t[name])["attachment_ids"][0]
    d = world.departments
    holders = {name: desk.get("dispatcher", ticket)["department_id"] for name, ticket in t.items()}
    assert holders == {
        "call": d["cg"],
        "patrol": d["jd050"],
        "foreign": d["ga"],
        "assist": d["ga"],
        "dup1": d["cg"],
        "moved": d["cg"],
        "dup2": d["cg"],
        "community": None,
        "street": None,
        "far": d["sw"],
        "neighbour": d["sw"],
    }
    assert t["dup1"] in [s["candidate"]["id"] for s in desk.get("dispatcher", t["dup2"])["duplicates"]]

    for name, handler in (("call", "cg1"), ("patrol", "jd0501")):
        ticket = t[name]
        urged = desk.act("dispatcher", ticket, "urge", {"message": "请尽快处理"})
        world.notices[ticket] = urged["notices"][-1]["id"]
        if name == "call":
            desk.act(handler, ticket, "sign")
            answer = feedback(world, handler, ticket, "已清运", photo=True)
            world.attachments[ticket] = answer["attachment_ids"][-1]
            desk.act("dispatcher", ticket, "verify", {"passed": False, "note": "未清理干净"})
        else:
            world.attachments[ticket] = desk.get("dispatcher", ticket)["attachment_ids"][0]
        desk.act(handler, ticket, "return", {"reason": "非本部门职责"})
        assert desk.act("dispatcher", ticket, "reject", {"reason": "不予受理"})["state"] == "rejected"

    assist = {"department_id": d["cg"], "part": "清理现场", "deadline_at": FAR_DEADLINE}
    desk.act("dispatcher", t["assist"], "assists", assist)
    desk.act("dispatcher", t["dup2"], "redispatch", {"department_id": d["ga"], "note": "改派公安"})
    desk.act("cg1", t["moved"], "sign")
    desk.act("cg1", t["moved"], "return", {"reason": "属公安职责"})
    desk.act("dispatcher", t["moved"], "redispatch", {"department_id": d["ga"], "note": "改派公安"})
    desk.act("ga1", t["moved"], "sign")
    feedback(world, "ga1", t["moved"], SECRET_FEEDBACK)

    admin = desk.headers("admin")
    world.version_id = int(client.get("/api/admin/grids/versions", headers=admin).json()[0]["id"])
    world.rule_id = int(client.get("/api/admin/rules", headers=admin).json()[0]["id"])
    return world


# --- HTTP ----------------------------------------------------------------------------------------


def send(client: TestClient, method: str, call: Call, headers: Headers) -> Any:
    return client.request(
        "GET" if method == "STATIC" else method,
        call.path,
        params=call.params,
        json=call.json,
        data=call.data,
        files=call.files,
        headers=headers,
    )


def expected_status(endpoint: Endpoint, caller: str) -> frozenset[int]:
    if endpoint.allowed is PUBLIC:
        return endpoint.ok
    if caller == ANONYMOUS:
        return frozenset({401})
    return endpoint.ok if USERS[caller] in endpoint.allowed else frozenset({403})


def masked(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


def phone_leaks(caller: str, where: str, text: str) -> list[str]:
    """A raw citizen phone in anything anyone but hotline staff receives is a leak."""
    if caller == "hotline":
        return []
    return [f"{caller}: {where} shows the raw phone {p}" for p in sorted(RAW_PHONES) if p in text]


def routes(*, ticket: bool) -> list[tuple[str, str, Endpoint]]:
    return [
        (method, template, endpoint)
        for (method, template), endpoint in ENDPOINTS.items()
        if method != "WS" and endpoint.ticket is ticket
    ]


def check_matrix(client: TestClient, world: World) -> list[str]:
    """Every caller on every route (ticket routes: on a ticket it may see): 401, 403 or what it is for."""
    problems = []
    for method, template, endpoint in [*routes(ticket=False), *routes(ticket=True)]:
        for caller in CALLERS:
            own = world.own_ticket(caller)
            call = endpoint.build(world, own)
            answer = send(client, method, call, world.headers(caller))
            expected = expected_status(endpoint, caller)
            if "{notice_id}" in template and own not in world.notices and caller != ANONYMOUS:
                expected = frozenset({404})  # a centre's own ticket never reached a department: no 督办
            if answer.status_code not in expected:
                problems.append(
                    f"{caller}: {method} {template} ({call.path}) answered {answer.status_code}, "
                    f"expected {sorted(expected)}: {answer.text[:160]}"
                )
            kind = answer.headers.get("content-type", "")
            if "text" in kind or "json" in kind:
                problems += phone_leaks(caller, f"{method} {call.path}", answer.text)
    return problems


# Per restricted caller, tickets it may not see: on each one every ticket route must answer 404.
HIDDEN: dict[str, tuple[str, ...]] = {
    "hotline": ("patrol",),
    "cg1": ("foreign", "moved"),  # another department's; one taken away from cg
    "jd0501": ("call",),
    "wgy0001": ("call", "assist"),  # an officer's report is not every officer's
    OTHER_DEPARTMENT: ("call",),
    "jdzx": ("far",),  # another street's
    "sqzx": ("far", "neighbour"),  # another street's; another community of the same street
}


def check_isolation(client: TestClient, world: World) -> list[str]:
    """A ticket the caller may not see is 404 on every ticket route whatever the role, nothing written."""
    problems = []
    centre = world.headers("dispatcher")
    seq_before = client.get("/api/tickets", headers=centre).json()["last_seq"]
    for caller, names in HIDDEN.items():
        assert not set(names) & VISIBLE[caller]
        for method, template, endpoint in routes(ticket=True):
            for name in names:
                ticket = world.tickets[name]
                call = endpoint.build(
                    replace(
                        world,
                        attachments={ticket: world.attachments.get(ticket, 1)},
                        notices={ticket: world.notices.get(ticket, 1)},
                    ),
                    ticket,
                )
                answer = send(client, method, call, world.headers(caller))
                if answer.status_code != 404:
                    problems.append(
                        f"{caller}: {method} {template} on {name} (not theirs) answered "
                        f"{answer.status_code}, expected 404: {answer.text[:160]}"
                    )
    # Another ticket's photo or 督办 notice, reached through a ticket the caller may see.
    call, patrol = world.tickets["call"], world.tickets["patrol"]
    for caller, method, path in (
        ("jd0501", "GET", f"/api/tickets/{patrol}/attachments/{world.attachments[call]}"),
        ("cg1", "POST", f"/api/tickets/{call}/notices/{world.notices[patrol]}/ack"),
    ):
        answer = client.request(method, path, headers=world.headers(caller))
        if answer.status_code != 404:
            problems.append(f"{caller}: {method} {path} (another ticket's) answered {answer.status_code}")
    seq_after = client.get("/api/tickets", headers=centre).json()["last_seq"]
    if seq_after != seq_before:
        problems.append(f"refused calls wrote ticket log rows (last_seq {seq_before} → {seq_after})")
    return problems


def openable(client: TestClient, world: World, caller: str, ticket_ids: Iterable[int]) -> dict[int, Any]:
    """The caller's detail view of each ticket it may open (anything but 200 or 404 fails at once)."""
    views = {}
    for ticket in ticket_ids:
        answer = client.get(f"/api/tickets/{ticket}", headers=world.headers(caller))
        assert answer.status_code in (200, 404), f"{caller}: ticket {ticket} answered {answer.status_code}"
        if answer.status_code == 200:
            views[ticket] = answer.json()
    return views


def all_tickets(client: TestClient, world: World) -> list[int]:
    page = client.get("/api/tickets", params={"limit": 1000}, headers=world.headers("dispatcher")).json()
    return sorted(t["id"] for t in page["items"])


def check_reads(client: TestClient, world: World) -> list[str]:
    """Lists hold exactly what the caller may open; duplicates never point elsewhere; phones masked."""
    problems = []
    everything = all_tickets(client, world)
    names = {ticket: name for name, ticket in world.tickets.items()}
    ga = world.departments["ga"]
    for caller in VISIBLE:
        views = openable(client, world, caller, everything)
        opens = {names[t] for t in views if t in names}
        if opens != VISIBLE[caller]:
            problems.append(f"{caller}: opens {sorted(opens)}, should open {sorted(VISIBLE[caller])}")
        for params in ({"limit": 1000}, {"department_id": ga}, {"state": ["rejected", "feedback"]}):
            answer = client.get("/api/tickets", params=params, headers=world.headers(caller))
            listed = {t["id"] for t in answer.json()["items"]}
            if listed - views.keys():
                problems.append(f"{caller}: GET /api/tickets {params} lists {sorted(listed - views.keys())}")
            if params == {"limit": 1000} and listed != views.keys():
                problems.append(f"{caller}: GET /api/tickets misses {sorted(views.keys() - listed)}")
            problems += phone_leaks(caller, f"GET /api/tickets {params}", answer.text)
        for ticket, view in views.items():
            where = f"GET /api/tickets/{ticket} ({names.get(ticket, 'made by the matrix')})"
            problems += phone_leaks(caller, where, json.dumps(view, ensure_ascii=False))
            for suggestion in view["duplicates"]:
                if suggestion["candidate"]["id"] not in views:
                    problems.append(f"{caller}: {where} suggests {suggestion['candidate']['id']}, not theirs")
            raw = PHONES.get(names.get(ticket, ""))
            if raw and view["caller_phone"] != (raw if caller == "hotline" else masked(raw)):
                problems.append(f"{caller}: {where} shows caller_phone {view['caller_phone']!r}")
            for reporter in view["reporters"]:
                if reporter["caller_phone"] in RAW_PHONES and caller != "hotline":
                    problems.append(f"{caller}: {where} shows a reporter's phone {reporter['caller_phone']}")
    return problems


def test_every_role_on_every_endpoint(client: TestClient, run_worker: RunWorker) -> None:
    """The matrix, isolation and masking over HTTP; every problem is listed, not only the first."""
    world = build_world(client, run_worker)
    problems = check_matrix(client, world)
    problems += check_isolation(client, world)
    problems += check_reads(client, world)
    assert problems == [], "\n".join(problems)


def test_static_pages_are_public(client: TestClient) -> None:
    pages = sorted(p.name for p in WEB_DIR.glob("*.html"))
    assert "index.html" in pages
    for page in pages:
        assert client.get(f"/{page}").status_code == 200, page


def test_similar_shows_no_caller_details(client: TestClient, run_worker: RunWorker) -> None:
    """Duplicate hints while a call is typed: open tickets of the same kind nearby, with no caller name,
    phone or description (hotline staff and grid officers get hints about tickets they cannot open)."""
    desk = Desk(client, fast_login)
    desk.call("RBAC-SIMILAR", category="06010", caller_phone=PHONES["call"], caller_name="孙女士")
    run_worker()
    lon, lat = inside(grids_in("140213050")[0])
    params = {"category_code": "06010", "lon": lon, "lat": lat}
    for user in ("hotline", "dispatcher", "shiftlead", "wgy0001"):
        answer = client.get("/api/tickets/similar", params=params, headers=desk.headers(user))
        assert answer.status_code == 200, answer.text
        assert answer.json(), user
        assert {"caller_phone", "caller_name", "description"}.isdisjoint(answer.json()[0]), user
        assert "孙女士" not in answer.text and PHONES["call"] not in answer.text


# --- the console websocket -----------------------------------------------------------------------


def read_console(ws: WebSocketTestSession, until: set[int], limit: int = 5_000) -> list[dict[str, Any]]:
    """Messages until the route rows of every ticket in `until` arrived (tickets made last)."""
    waiting, seen = set(until), []
    while waiting:
        message = ws.receive_json()
        seen.append(message)
        if message.get("action") == "route":
            waiting.discard(message["ticket"]["id"])
        assert len(seen) < limit, f"no route message for {sorted(waiting)}"
    return seen


def replay(
    client: TestClient, world: World, caller: str, until: set[int], since: int = 0
) -> list[dict[str, Any]]:
    with client.websocket_connect(f"/api/console/ws?token={token(world, caller)}&since={since}") as ws:
        return read_console(ws, until)


def check_messages(world: World, caller: str, seen: list[dict[str, Any]], views: dict[int, Any]) -> list[str]:
    """Only tickets the caller may open (or, for a department, the move of one away from it), phones
    masked for all but hotline staff, and every ticket it may open is there."""
    problems, names = [], {ticket: name for name, ticket in world.tickets.items()}
    about = set()
    for message in seen:
        where = f"console message {message.get('seq')} ({message.get('action')})"
        if message.get("type") != "change":
            problems.append(f"{caller}: unexpected {where}: {message}")
            continue
        ticket = message["ticket"]
        about.add(ticket["id"])
        if ticket["id"] not in views:
            left = names.get(ticket["id"]) in LEFT.get(caller, ())
            if not (left and message["action"] == "redispatch" and set(ticket) == LEFT_TICKET_KEYS):
                problems.append(f"{caller}: {where} is about ticket {ticket['id']}, not theirs: {message}")
        problems += phone_leaks(caller, where, json.dumps(message, ensure_ascii=False))
        raw = PHONES.get(names.get(ticket["id"], ""))
        if caller == "hotline" and raw and ticket.get("caller_phone") != raw:
            problems.append(f"hotline: {where} shows caller_phone {ticket.get('caller_phone')!r}, not {raw}")
    if missing := views.keys() - about:
        problems.append(f"{caller}: the console never mentions tickets it may open: {sorted(missing)}")
    return problems


def test_console_websocket_per_role(client: TestClient, run_worker: RunWorker) -> None:
    """Anonymous is refused; each role replaying from 0 gets only what it may open, phones masked."""
    world = build_world(client, run_worker)
    for bad in ("", "not-a-jwt"):
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect(f"/api/console/ws?token={bad}&since=0") as ws,
        ):
            ws.receive_json()
        assert closed.value.code == 4401
    # The last tickets made: one each for cg (12345), jd050 (wgy0001's report) and ga (12345).
    sentinels = {
        world.desk.call("RBAC-SENTINEL-CG", category="06010", caller_phone=PHONES["sentinel"]),
        post_patrol(world, "wgy0001", "20001"),
        world.desk.call("RBAC-SENTINEL-GA", category="09009", caller_phone=PHONES["sentinel"]),
    }
    run_worker()
    everything = all_tickets(client, world)
    problems = []
    for caller in VISIBLE:
        views = openable(client, world, caller, everything)
        assert sentinels & views.keys(), caller
        seen = replay(client, world, caller, sentinels & views.keys())
        problems += check_messages(world, caller, seen, views)
    assert problems == [], "\n".join(problems)


def test_console_replay_after_reassignment_tells_nothing_later(
    client: TestClient, run_worker: RunWorker
) -> None:
    """cg held a ticket, it was 改派 to ga, ga worked on it: cg's console (live, or replaying from 0 or
    from when it still held the ticket) learns at most that the ticket left, never what came after."""
    desk = Desk(client, fast_login)
    world = World(desk=desk)
    moved = desk.call("RBAC-MOVED", category="06010", caller_phone=PHONES["moved"])
    run_worker()
    desk.act("cg1", moved, "sign")
    held_until = client.get("/api/tickets", headers=desk.headers("dispatcher")).json()["last_seq"]
    live = client.websocket_connect(f"/api/console/ws?token={token(world, 'cg1')}&since={held_until}")
    with live as ws:
        desk.act("cg1", moved, "return", {"reason": "属公安职责"})
        body = {"department_id": department_id("ga"), "note": "改派公安"}
        moved_at = desk.act("dispatcher", moved, "redispatch", body)["log"][-1]["seq"]
        desk.act("ga1", moved, "sign")
        feedback(world, "ga1", moved, SECRET_FEEDBACK)
        desk.act("dispatcher", moved, "urge", {"message": SECRET_URGE})
        sentinel = desk.call("RBAC-SENTINEL", category="06010", caller_phone=PHONES["sentinel"])
        run_worker()
        streams = {"live": read_console(ws, {sentinel})}
    for since in (0, held_until):
        streams[f"since={since}"] = replay(client, world, "cg1", {sentinel}, since=since)
    problems = []
    for stream, seen in streams.items():
        about = [m for m in seen if m["ticket"]["id"] == moved]
        if "redispatch" not in [m["action"] for m in about]:
            problems.append(f"{stream}: cg1 is not told the ticket left")
        for message in about:  # the move away at most, and the ticket as that move left it
            if message["seq"] > moved_at or message["ticket"].get("state") == "feedback":
                problems.append(f"{stream}: cg1 learns of {message['action']} ({message['seq']}): {message}")
        text = json.dumps(seen, ensure_ascii=False)
        problems += [f"{stream}: cg1 reads {s!r}" for s in (SECRET_FEEDBACK, SECRET_URGE) if s in text]
        problems += phone_leaks("cg1", stream, text)
    assert problems == [], "\n".join(problems)


# --- leaks this matrix found (fixed): a phone-number oracle, a console outliving its account ---


def test_similar_does_not_confirm_phone_numbers_to_roles_that_see_them_masked(
    client: TestClient, run_worker: RunWorker
) -> None:
    desk = Desk(client, fast_login)
    address = "永泰街道演示小区5号楼"
    desk.call("RBAC-ORACLE", category="06010", caller_phone=PHONES["call"], address=address)
    run_worker()
    for user in ("dispatcher", "shiftlead", "wgy0001"):
        answers = {
            phone: client.get(
                "/api/tickets/similar",
                params={"category_code": "06010", "caller_phone": phone, "address": address},
                headers=desk.headers(user),
            ).json()
            for phone in (PHONES["call"], "13900009999")
        }
        assert answers[PHONES["call"]] == answers["13900009999"], f"{user} can tell which number called"


def test_console_stops_for_a_deactivated_account(client: TestClient, run_worker: RunWorker) -> None:
    """The console closes the socket (4401) before delivering anything after the account is deactivated."""
    desk = Desk(client, fast_login)
    world = World(desk=desk)
    last = client.get("/api/tickets", headers=desk.headers("dispatcher")).json()["last_seq"]
    with client.websocket_connect(f"/api/console/ws?token={token(world, 'cg1')}&since={last}") as ws:
        answer = client.post("/api/admin/people/cg1/deactivate", headers=desk.headers("admin"))
        assert answer.status_code == 200, answer.text
        assert client.get("/api/auth/me", headers=desk.headers("cg1")).status_code == 401
        desk.call("RBAC-AFTER-DEACTIVATION", category="06010", caller_phone=PHONES["call"])
        run_worker()  # routed to cg: the next thing cg1's console would have been sent
        with pytest.raises(WebSocketDisconnect) as closed:
            message = ws.receive_json()
            pytest.fail(f"a deactivated account still gets messages: {message}")
        assert closed.value.code == 4401
