"""Open311 GeoReport v2 through the running API with client libraries from PyPI, used unchanged:
civicbot's Open311Client (JSON: services, definition, POST, read back) and georeport (XML and JSON reads).
A request is filed with an API key an admin made, routed by a real worker, handled by the department
and closed by the centre; the clients follow its status to closed. Keys: wrong, revoked, rotated, out of
scope; bad requests get the spec's error list."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from civicbot.http import HttpTransport, RateLimiter
from civicbot.open311 import Open311Client
from civicbot.registry import Endpoint
from georeport import GeoReport

from tests.helpers import grids_in, inside
from tests.processes import Processes, free_port, token, wait_healthy

pytestmark = pytest.mark.e2e

JURISDICTION = "pingcheng"


def auth(base: str, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(base, user)}"}


def new_key(base: str, name: str, scopes: list[str]) -> dict[str, Any]:
    answer = httpx.post(
        f"{base}/api/admin/api-keys", json={"name": name, "scopes": scopes}, headers=auth(base, "admin")
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def wait_for(base: str, number: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = httpx.get(
            f"{base}/api/tickets", params={"limit": 50}, headers=auth(base, "dispatcher")
        ).json()
        ticket = next((t for t in found["items"] if t["number"] == number), None)
        if ticket and ticket["state"] == state:
            return dict(ticket)
        time.sleep(0.2)
    raise AssertionError(f"{number} never reached {state}")


@pytest.fixture
def api(processes: Processes) -> str:
    port = free_port()
    processes.start("api", "api", "--port", str(port))
    processes.start("worker", "worker")
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base)
    return base


def test_client_libraries_file_a_request_and_follow_it_to_closed(api: str) -> None:
    key = new_key(api, "平城市民App", ["open311"])
    assert key["key"].startswith("gdk_") and key["scopes"] == ["open311"]
    endpoint = Endpoint(id="pingcheng", name="平城区", base_url=f"{api}/open311/v2", write=True)
    client = Open311Client(
        endpoint, HttpTransport(rate_limiter=RateLimiter(min_interval=0)), jurisdiction_id=JURISDICTION
    )

    services = {s["service_code"]: s for s in client.list_services()}
    assert services["06010"]["service_name"] == "暴露垃圾" and services["06010"]["group"] == "市容环境"
    assert "06" not in services  # 大类 are groups, not services
    definition = client.get_service_definition("06010")
    assert {a["code"]: a["required"] for a in definition["attributes"]} == {
        "request_type": True,
        "urgency": False,
    }

    lon, lat = inside(grids_in("140213050")[0])
    filed = client.create_request(
        "06010",
        dry_run=False,
        confirm="SEND",
        api_key=key["key"],
        validate_remote=True,  # checks the form against our services and definition first
        lat=lat,
        lng=lon,
        description="小区门口垃圾堆放多日无人清运",
        attributes={"request_type": "complaint"},
        first_name="女士",
        last_name="王",
        phone="13700001111",
    )
    [receipt] = filed.response
    number = receipt["service_request_id"]
    assert number.startswith("KF") and "已受理" in receipt["service_notice"]

    # Routed by the worker like any report; the client reads it back (no names or phones in it).
    ticket = wait_for(api, number, "dispatched")
    assert ticket["source"] == "open311" and ticket["department_name"] == "区城市管理局"
    seen = client.get_request(number)
    assert seen is not None
    assert (seen["status"], seen["agency_responsible"], seen["service_code"]) == (
        "open",
        "区城市管理局",
        "06010",
    )
    assert seen["expected_datetime"].endswith("+08:00") and seen["requested_datetime"].endswith("+08:00")
    assert "13700001111" not in str(seen) and "王" not in str(seen)
    assert client.get_token(number) == [{"service_request_id": number, "token": number}]

    # The department handles it; the centre closes it.
    tid = ticket["id"]
    for user, path, body in (
        ("cg1", "sign", None),
        ("dispatcher", "verify", {"passed": True}),
    ):
        if path == "verify":
            fed = httpx.post(
                f"{api}/api/tickets/{tid}/feedback", data={"text": "已清运完毕"}, headers=auth(api, "cg1")
            )
            assert fed.status_code == 200, fed.text
        moved = httpx.post(f"{api}/api/tickets/{tid}/{path}", json=body or {}, headers=auth(api, user))
        assert moved.status_code == 200, moved.text

    closed = client.get_request(number)
    assert closed is not None and (closed["status"], closed["status_notes"]) == (
        "closed",
        "已办结：已清运完毕",
    )
    assert [r["service_request_id"] for r in client.list_requests(status="closed")] == [number]
    assert client.list_requests(status="open") == []

    # The same through georeport, in XML and in JSON.
    for fmt in ("xml", "json"):
        reader = GeoReport(f"{api}/open311/v2", jurisdiction=JURISDICTION, output_format=fmt)
        names = {s["service_code"]: s["service_name"] for s in reader.get_service_list()}
        assert names["06031"] == "飞线充电"
        attributes = reader.get_service_definition("06010")["attributes"]
        assert attributes if fmt == "json" else attributes["attribute"]
        one = reader.get_service_request(number)
        assert (one["service_request_id"], one["status"], one["service_name"]) == (
            number,
            "closed",
            "暴露垃圾",
        )
        listed = reader.get_service_requests(service_code="06010", status="closed")
        assert (listed[0] if isinstance(listed, list) else listed)["service_request_id"] == number

    # Every use of the key is in its log.
    uses = httpx.get(f"{api}/api/admin/api-keys/{key['id']}/uses", headers=auth(api, "admin")).json()
    assert [(u["method"], u["allowed"]) for u in uses] == [("POST", True)]


def post(api: str, fmt: str = "json", **form: Any) -> httpx.Response:
    lon, lat = inside(grids_in("140213050")[0])
    body = {
        "service_code": "06010",
        "lat": lat,
        "long": lon,
        "description": "垃圾",
        "attribute[request_type]": "complaint",
    }
    return httpx.post(f"{api}/open311/v2/requests.{fmt}", data={**body, **form})


def test_keys_and_bad_requests_get_the_spec_error_list(api: str, tmp_path: Path) -> None:
    good = new_key(api, "区数据中台", ["open311"])["key"]
    other = new_key(api, "市12345平台", ["city12345"])

    def errors(answer: httpx.Response, status: int) -> str:
        assert answer.status_code == status, answer.text
        [problem] = answer.json()
        assert problem["code"] == status
        return str(problem["description"])

    assert "api_key" in errors(post(api), 401)
    assert errors(post(api, api_key="gdk_nothing_here"), 401) == errors(post(api, api_key=good + "x"), 401)
    assert "may not" in errors(post(api, api_key=other["key"]), 403)  # a key outside its scope
    assert "service_code" in errors(post(api, api_key=good, service_code="99999"), 404)
    assert "request_type" in errors(post(api, api_key=good, **{"attribute[request_type]": ""}), 400)
    assert errors(post(api, api_key=good, lat="39.0", long="116.0"), 400)  # outside the district
    assert "location" in errors(post(api, api_key=good, lat="", long=""), 400)
    assert "jurisdiction" in errors(post(api, api_key=good, jurisdiction_id="beijing"), 404)
    xml = post(api, "xml", api_key="gdk_nothing_here")
    assert xml.status_code == 401 and xml.headers["content-type"].startswith("text/xml")
    assert b"<errors><error><code>401</code><description>" in xml.content
    # Nothing half-written: no ticket came of any of them.
    listed = httpx.get(f"{api}/api/tickets", params={"source": "open311"}, headers=auth(api, "dispatcher"))
    assert listed.json()["items"] == []

    # Rotating: the new key works, the old one no longer; revoking ends a key.
    rotated = httpx.post(f"{api}/api/admin/api-keys/{other['id']}/rotate", headers=auth(api, "admin")).json()
    assert errors(post(api, api_key=other["key"]), 401)
    assert errors(post(api, api_key=rotated["key"]), 403)  # same scopes: still not open311
    assert post(api, api_key=good).status_code == 201
    keys = httpx.get(f"{api}/api/admin/api-keys", headers=auth(api, "admin")).json()
    good_id = next(k["id"] for k in keys if k["name"] == "区数据中台" and k["revoked_at"] is None)
    assert "key" not in keys[0] and "secret_sha256" not in keys[0]  # never shown again
    httpx.post(f"{api}/api/admin/api-keys/{good_id}/revoke", headers=auth(api, "admin"))
    assert errors(post(api, api_key=good), 401)
    # A key is not a login, and a service account cannot log in or open a person's page.
    assert httpx.get(f"{api}/api/tickets", headers={"X-API-Key": good}).status_code == 401
    assert httpx.get(f"{api}/api/tickets", headers={"Authorization": f"Bearer {good}"}).status_code == 401
    svc = httpx.get(f"{api}/api/admin/api-keys", headers=auth(api, "admin")).json()[0]["prefix"]
    login = httpx.post(f"{api}/api/auth/token", data={"username": f"svc-{svc}", "password": ""})
    assert login.status_code in (401, 422)
    # Key management is for admins only.
    assert httpx.get(f"{api}/api/admin/api-keys", headers=auth(api, "dispatcher")).status_code == 403
