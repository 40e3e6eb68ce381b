"""Intake refuses bad input with a clear 4xx naming the field, and writes nothing when it refuses.

A grid officer on a weak network and a call-centre system both rely on this: a refused request must
say which field is wrong (so the form can highlight it) and must leave no half-written ticket,
event, log row or photo behind (so a corrected resend does not create a ghost case).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, text
from sqlmodel import select

from dispatch.config import get_settings
from dispatch.db import new_session
from dispatch.demo.geometry import generate_district
from dispatch.errors import InvalidInput
from dispatch.events.models import Attachment, Event
from dispatch.events.photos import check_photo
from dispatch.tickets.models import Ticket, TicketLog

TABLES = {"ticket": Ticket, "event": Event, "ticket_log": TicketLog, "attachment": Attachment}

Headers = dict[str, str]


@pytest.fixture(scope="module")
def inside_point() -> tuple[float, float]:
    """A point inside the first demo grid (永泰街道), well inside the district."""
    grid = next(a for a in generate_district() if a.level == "grid")
    point = grid.polygon.representative_point()
    return round(point.x, 6), round(point.y, 6)


def _png(size: tuple[int, int] = (16, 12), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg(size: tuple[int, int] = (20, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _counts() -> dict[str, int]:
    """Row counts read through a brand-new session (nothing cached from the request)."""
    with new_session() as session:
        return {
            name: session.exec(select(func.count()).select_from(model)).one()
            for name, model in TABLES.items()
        }


@pytest.fixture
def officer(login: Callable[[str], Headers]) -> Headers:
    return login("wgy0001")


@pytest.fixture
def hotline(login: Callable[[str], Headers]) -> Headers:
    return login("hotline")


@pytest.fixture
def unchanged(client: TestClient) -> Iterator[None]:
    """Asserts that the test body wrote no ticket, event, log row or attachment."""
    before = _counts()
    yield
    assert _counts() == before


def _patrol_form(point: tuple[float, float], **overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "lon": str(point[0]),
        "lat": str(point[1]),
        "category_code": "06010",
        "description": "路边有暴露垃圾，约两立方米",
        "address": "演示路 1 号",
    }
    for key, value in overrides.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    return form


def _call(**overrides: Any) -> dict[str, Any]:
    call: dict[str, Any] = {
        "call_id": "C20261128-0001",
        "caller_name": "张先生",
        "caller_phone": "13812345678",
        "address": "平城区演示路 8 号",
        "request_type": "complaint",
        "category_code": "06028",
        "content": "楼下饭店夜间噪声扰民",
    }
    for key, value in overrides.items():
        if value is None:
            call.pop(key, None)
        else:
            call[key] = value
    return call


def _assert_refused(response: Any, field: str, *, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert body.get("field") == field, body
    return body


# --- patrol reports -----------------------------------------------------------------------------


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"lon": "200"}, "lon", id="lon-out-of-range"),
        pytest.param({"lat": "-91"}, "lat", id="lat-out-of-range"),
        pytest.param({"lon": "east"}, "lon", id="lon-not-a-number"),
        pytest.param({"category_code": "abc"}, "category_code", id="category-malformed"),
        pytest.param({"description": "x" * 2001}, "description", id="description-too-long"),
        pytest.param({"description": ""}, "description", id="description-empty"),
        pytest.param({"description": "   "}, "description", id="description-blank"),
        pytest.param({"description": None}, "description", id="description-missing"),
    ],
)
def test_patrol_form_errors_are_422_naming_the_field(
    client: TestClient,
    officer: Headers,
    inside_point: tuple[float, float],
    overrides: dict[str, Any],
    field: str,
) -> None:
    response = client.post(
        "/api/intake/patrol", data=_patrol_form(inside_point, **overrides), headers=officer
    )
    _assert_refused(response, field)


@pytest.mark.usefixtures("unchanged")
def test_patrol_outside_the_district_is_refused(client: TestClient, officer: Headers) -> None:
    # Tian'anmen, Beijing: valid WGS-84, but some 260 km from 平城区.
    response = client.post("/api/intake/patrol", data=_patrol_form((116.397, 39.908)), headers=officer)
    body = _assert_refused(response, "lon")
    assert "不在本区范围内" in body["detail"]


@pytest.mark.usefixtures("unchanged")
def test_patrol_with_unknown_category_is_refused(
    client: TestClient, officer: Headers, inside_point: tuple[float, float]
) -> None:
    response = client.post(
        "/api/intake/patrol", data=_patrol_form(inside_point, category_code="06999"), headers=officer
    )
    body = _assert_refused(response, "category_code")
    assert "06999" in body["detail"]


@pytest.mark.usefixtures("unchanged")
def test_patrol_with_inactive_category_is_refused(
    client: TestClient, officer: Headers, inside_point: tuple[float, float]
) -> None:
    with new_session() as session:
        session.execute(text("UPDATE category SET active = :no WHERE code = '06012'"), {"no": False})
        session.commit()
    response = client.post(
        "/api/intake/patrol", data=_patrol_form(inside_point, category_code="06012"), headers=officer
    )
    _assert_refused(response, "category_code")


@pytest.mark.usefixtures("unchanged")
def test_patrol_photo_that_is_not_an_image_is_refused(
    client: TestClient, officer: Headers, inside_point: tuple[float, float]
) -> None:
    files = [("photos", ("x.jpg", b"this is plain text, not a JPEG at all\n" * 20, "image/jpeg"))]
    response = client.post(
        "/api/intake/patrol", data=_patrol_form(inside_point), files=files, headers=officer
    )
    body = _assert_refused(response, "photos[0]")
    assert "x.jpg" in body["detail"]


@pytest.mark.usefixtures("unchanged")
def test_second_bad_photo_is_named_by_its_index(
    client: TestClient, officer: Headers, inside_point: tuple[float, float]
) -> None:
    files = [
        ("photos", ("ok.png", _png(), "image/png")),
        ("photos", ("broken.png", _png()[:40], "image/png")),  # a truncated upload
    ]
    response = client.post(
        "/api/intake/patrol", data=_patrol_form(inside_point), files=files, headers=officer
    )
    _assert_refused(response, "photos[1]")


@pytest.mark.usefixtures("unchanged")
def test_unsupported_image_format_is_refused(
    client: TestClient, officer: Headers, inside_point: tuple[float, float]
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="GIF")
    files = [("photos", ("anim.gif", buffer.getvalue(), "image/gif"))]
    response = client.post(
        "/api/intake/patrol", data=_patrol_form(inside_point), files=files, headers=officer
    )
    body = _assert_refused(response, "photos[0]")
    assert "GIF" in body["detail"]


@pytest.mark.usefixtures("unchanged")
def test_photo_over_the_size_limit_is_refused(
    client: TestClient,
    officer: Headers,
    inside_point: tuple[float, float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = _png((4, 4))
    big = _png((200, 200), (1, 2, 3)) + b"\0" * 4096  # a real PNG, padded past the limit
    monkeypatch.setenv("GRID_PHOTO_MAX_BYTES", str(len(small) + 1000))
    get_settings.cache_clear()
    assert len(big) > get_settings().photo_max_bytes > len(small)
    files = [("photos", ("small.png", small, "image/png")), ("photos", ("big.png", big, "image/png"))]
    response = client.post(
        "/api/intake/patrol", data=_patrol_form(inside_point), files=files, headers=officer
    )
    body = _assert_refused(response, "photos[1]")
    assert "big.png" in body["detail"]


@pytest.mark.usefixtures("unchanged")
def test_too_many_photos_are_refused(
    client: TestClient, officer: Headers, inside_point: tuple[float, float]
) -> None:
    limit = get_settings().photos_max_count
    files = [("photos", (f"p{i}.png", _png(), "image/png")) for i in range(limit + 1)]
    response = client.post(
        "/api/intake/patrol", data=_patrol_form(inside_point), files=files, headers=officer
    )
    body = _assert_refused(response, "photos")
    assert str(limit) in body["detail"]


def test_patrol_with_photos_is_stored_and_served_back(
    client: TestClient, officer: Headers, inside_point: tuple[float, float]
) -> None:
    before = _counts()
    png, jpeg = _png((16, 12)), _jpeg((20, 10))
    files = [("photos", ("rubbish.png", png, "image/png")), ("photos", ("street.jpg", jpeg, "image/jpeg"))]
    response = client.post(
        "/api/intake/patrol", data=_patrol_form(inside_point), files=files, headers=officer
    )
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["state"] == "new"
    assert receipt["number"].startswith("WG")

    after = _counts()
    assert after == {
        "ticket": before["ticket"] + 1,
        "event": before["event"] + 1,
        "ticket_log": before["ticket_log"] + 1,
        "attachment": before["attachment"] + 2,
    }

    detail = client.get(f"/api/tickets/{receipt['ticket_id']}", headers=officer)
    assert detail.status_code == 200, detail.text
    ticket = detail.json()
    assert ticket["description"] == "路边有暴露垃圾，约两立方米"
    assert ticket["lon"] == pytest.approx(inside_point[0])
    assert len(ticket["attachment_ids"]) == 2

    served = [
        client.get(f"/api/tickets/{receipt['ticket_id']}/attachments/{aid}", headers=officer)
        for aid in ticket["attachment_ids"]
    ]
    assert all(r.status_code == 200 for r in served)
    by_type = {r.headers["content-type"]: r.content for r in served}
    assert by_type.keys() == {"image/png", "image/jpeg"}
    # Stored as the server's own re-encoding (never the uploaded bytes): the same pictures.
    assert Image.open(io.BytesIO(by_type["image/png"])).size == (16, 12)
    assert Image.open(io.BytesIO(by_type["image/jpeg"])).size == (20, 10)

    with new_session() as session:
        stored = session.exec(
            select(Attachment).where(Attachment.ticket_id == receipt["ticket_id"]).order_by(Attachment.id)
        ).all()
    assert [(a.filename, a.width_px, a.height_px, a.size_bytes) for a in stored] == [
        ("rubbish.png", 16, 12, len(by_type["image/png"])),
        ("street.jpg", 20, 10, len(by_type["image/jpeg"])),
    ]


def test_attachment_of_another_ticket_is_not_served(
    client: TestClient, officer: Headers, inside_point: tuple[float, float]
) -> None:
    files = [("photos", ("a.png", _png(), "image/png"))]
    first = client.post("/api/intake/patrol", data=_patrol_form(inside_point), files=files, headers=officer)
    second = client.post("/api/intake/patrol", data=_patrol_form(inside_point), headers=officer)
    assert first.status_code == second.status_code == 201
    attachment_id = client.get(f"/api/tickets/{first.json()['ticket_id']}", headers=officer).json()[
        "attachment_ids"
    ][0]
    response = client.get(
        f"/api/tickets/{second.json()['ticket_id']}/attachments/{attachment_id}", headers=officer
    )
    assert response.status_code == 404


def test_patrol_extra_form_field_is_refused(
    client: TestClient, officer: Headers, inside_point: tuple[float, float]
) -> None:
    before = _counts()
    response = client.post(
        "/api/intake/patrol", data=_patrol_form(inside_point, severity="high"), headers=officer
    )
    _assert_refused(response, "severity")
    assert _counts() == before


def test_patrol_without_photos_is_accepted(
    client: TestClient, officer: Headers, inside_point: tuple[float, float]
) -> None:
    """The counterpart of the refusals above: the same base form is accepted and written once."""
    before = _counts()
    response = client.post("/api/intake/patrol", data=_patrol_form(inside_point), headers=officer)
    assert response.status_code == 201, response.text
    after = _counts()
    assert after == {
        **before,
        "ticket": before["ticket"] + 1,
        "event": before["event"] + 1,
        "ticket_log": before["ticket_log"] + 1,
    }
    detail = client.get(f"/api/tickets/{response.json()['ticket_id']}", headers=officer).json()
    assert detail["attachment_ids"] == []
    assert detail["category_code"] == "06010"


def test_description_of_exactly_2000_chinese_characters_is_kept_whole(
    client: TestClient, officer: Headers, inside_point: tuple[float, float]
) -> None:
    text_2000 = "垃圾" * 1000
    response = client.post(
        "/api/intake/patrol", data=_patrol_form(inside_point, description=text_2000), headers=officer
    )
    assert response.status_code == 201, response.text
    detail = client.get(f"/api/tickets/{response.json()['ticket_id']}", headers=officer).json()
    assert detail["description"] == text_2000


# The photo checks themselves, below the HTTP layer (they run once the bug above is fixed).


def test_check_photo_accepts_png_and_jpeg_with_their_size() -> None:
    png = check_photo("a.png", _png((16, 12)), max_bytes=10_000, index=0)
    jpeg = check_photo("b.jpg", _jpeg((20, 10)), max_bytes=10_000, index=1)
    assert (png.content_type, png.width_px, png.height_px) == ("image/png", 16, 12)
    assert (jpeg.content_type, jpeg.width_px, jpeg.height_px) == ("image/jpeg", 20, 10)


def test_check_photo_goes_by_content_not_by_name() -> None:
    photo = check_photo("looks-like.jpg", _png(), max_bytes=10_000, index=0)
    assert photo.content_type == "image/png"
    with pytest.raises(InvalidInput) as refused:
        check_photo("x.jpg", b"plain text pretending to be a photo\n" * 10, max_bytes=10_000, index=2)
    assert refused.value.field == "photos[2]"
    assert "x.jpg" in refused.value.message


def test_check_photo_refuses_oversize_and_other_formats() -> None:
    data = _png((64, 64))
    with pytest.raises(InvalidInput) as too_big:
        check_photo("big.png", data, max_bytes=len(data) - 1, index=3)
    assert too_big.value.field == "photos[3]"
    assert check_photo("fits.png", data, max_bytes=len(data), index=0).width_px == 64
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    with pytest.raises(InvalidInput) as wrong_format:
        check_photo("anim.gif", gif.getvalue(), max_bytes=10_000, index=0)
    assert "GIF" in wrong_format.value.message


# --- 12345 calls --------------------------------------------------------------------------------


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"call_id": "x"}, "call_id", id="call-id-too-short"),
        pytest.param({"call_id": "has space"}, "call_id", id="call-id-with-space"),
        pytest.param({"call_id": "C" * 70}, "call_id", id="call-id-70-chars"),
        pytest.param({"call_id": "-leading-dash"}, "call_id", id="call-id-leading-dash"),
        pytest.param({"caller_phone": "12345"}, "caller_phone", id="phone-too-short"),
        pytest.param({"caller_phone": "23812345678"}, "caller_phone", id="phone-not-mobile"),
        pytest.param({"caller_name": ""}, "caller_name", id="caller-name-empty"),
        pytest.param({"request_type": "praise"}, "request_type", id="request-type-unknown"),
        pytest.param({"category_code": "abc"}, "category_code", id="category-malformed"),
        pytest.param({"content": "x" * 2001}, "content", id="content-too-long"),
        pytest.param({"content": "  "}, "content", id="content-blank"),
        pytest.param({"urgency": "critical"}, "urgency", id="urgency-unknown"),
        pytest.param({"lon": 200, "lat": 40.07}, "lon", id="lon-out-of-range"),
        pytest.param({"mood": "angry"}, "mood", id="extra-unknown-field"),
    ],
)
def test_hotline_errors_are_422_naming_the_field(
    client: TestClient, hotline: Headers, overrides: dict[str, Any], field: str
) -> None:
    response = client.post("/api/intake/hotline", json=_call(**overrides), headers=hotline)
    body = _assert_refused(response, field)
    assert field in body["detail"]


POSITION_RULES = [
    pytest.param({"lon": 113.25, "address": None}, "lon and lat", {"lat"}, id="lon-without-lat"),
    pytest.param({"lat": 40.07}, "lon is missing", {"lon", "lat"}, id="lat-without-lon"),
    pytest.param({"address": None}, "address", {"address", "lon", "lat"}, id="neither-address-nor-position"),
    pytest.param({"address": "   "}, "address", {"address", "lon", "lat"}, id="blank-address-no-position"),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("overrides", "words", "fields"), POSITION_RULES)
def test_hotline_position_rules_are_enforced(
    client: TestClient, hotline: Headers, overrides: dict[str, Any], words: str, fields: set[str]
) -> None:
    response = client.post("/api/intake/hotline", json=_call(**overrides), headers=hotline)
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]


@pytest.mark.parametrize(("overrides", "words", "fields"), POSITION_RULES)
def test_hotline_position_rules_name_a_field(
    client: TestClient, hotline: Headers, overrides: dict[str, Any], words: str, fields: set[str]
) -> None:
    response = client.post("/api/intake/hotline", json=_call(**overrides), headers=hotline)
    assert response.status_code == 422, response.text
    assert response.json()["field"] in fields, response.json()


@pytest.mark.usefixtures("unchanged")
def test_hotline_unknown_category_is_refused(client: TestClient, hotline: Headers) -> None:
    response = client.post("/api/intake/hotline", json=_call(category_code="06999"), headers=hotline)
    _assert_refused(response, "category_code")


@pytest.mark.usefixtures("unchanged")
def test_hotline_position_outside_the_district_is_refused(client: TestClient, hotline: Headers) -> None:
    response = client.post("/api/intake/hotline", json=_call(lon=116.397, lat=39.908), headers=hotline)
    _assert_refused(response, "lon")


def test_valid_hotline_call_is_accepted_once(client: TestClient, hotline: Headers) -> None:
    """The counterpart of the refusals above: the same base call is accepted, and a resend is not a copy."""
    before = _counts()
    first = client.post("/api/intake/hotline", json=_call(), headers=hotline)
    assert first.status_code == 201, first.text
    again = client.post("/api/intake/hotline", json=_call(), headers=hotline)
    assert again.status_code == 200, again.text
    assert again.json()["ticket_id"] == first.json()["ticket_id"]
    assert again.json()["duplicate_of_call"] is True
    after = _counts()
    assert after["ticket"] == before["ticket"] + 1
    assert after["event"] == before["event"] + 1


# --- the body or a parameter as a whole -----------------------------------------------------------


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "body",
    [
        pytest.param([_call()], id="list"),
        pytest.param(42, id="number"),
        pytest.param("call", id="string"),
        pytest.param(None, id="null"),
    ],
)
def test_body_that_is_not_an_object_names_the_body(client: TestClient, hotline: Headers, body: Any) -> None:
    response = client.post("/api/intake/hotline", json=body, headers=hotline)
    _assert_refused(response, "body")


@pytest.mark.usefixtures("unchanged")
def test_body_that_is_not_json_names_the_body(client: TestClient, hotline: Headers) -> None:
    response = client.post(
        "/api/intake/hotline",
        content=b'{"call_id": ',
        headers={**hotline, "Content-Type": "application/json"},
    )
    _assert_refused(response, "body")


def test_workflow_body_that_is_not_an_object_names_the_body(
    client: TestClient, hotline: Headers, login: Callable[[str], Headers]
) -> None:
    accepted = client.post("/api/intake/hotline", json=_call(), headers=hotline)
    assert accepted.status_code == 201, accepted.text
    ticket_id = accepted.json()["ticket_id"]
    response = client.post(f"/api/tickets/{ticket_id}/verify", json=[True], headers=login("dispatcher"))
    _assert_refused(response, "body")


@pytest.mark.parametrize(
    ("url", "field"),
    [
        pytest.param("/api/tickets/abc", "ticket_id", id="path"),
        pytest.param("/api/tickets?limit=0", "limit", id="query"),
        pytest.param("/api/tickets?state=nonsense", "state.0", id="query-list-item"),
        pytest.param("/api/tickets/similar?category_code=x", "category_code", id="query-pattern"),
    ],
)
def test_query_and_path_errors_name_the_parameter(
    client: TestClient, login: Callable[[str], Headers], url: str, field: str
) -> None:
    response = client.get(url, headers=login("dispatcher"))
    body = _assert_refused(response, field)
    assert body["detail"].startswith(f"输入有误 — {field}: "), body
