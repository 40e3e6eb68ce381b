"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2/) under /open311/v2/, in JSON and XML.

Field names, the error format (a list of {code, description}) and the URL shapes follow the published
spec, so Open311 client libraries work unchanged. Our catalog's 小类 are the services; every service
has two attributes: `request_type` (诉求类型, required) and `urgency` (紧急程度). A request filed here
becomes a ticket of source `open311`, reported by the API key's service account, and is routed like
any other. Reading requests needs no key (as the spec has it) and lists only requests filed through
Open311, without anyone's name or phone; filing one needs a key with the `open311` scope.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from dispatch import clock
from dispatch.catalog.models import URGENCY_LABELS, Category, Department
from dispatch.config import get_settings
from dispatch.db import SessionDep
from dispatch.errors import DispatchError
from dispatch.events.models import REQUEST_TYPE_LABELS, Event, RequestType, Source
from dispatch.events.service import Report, accept
from dispatch.events.views import read_photos
from dispatch.interop import keys, local_iso
from dispatch.tickets.models import TICKET_STATE_LABELS, Ticket, TicketState

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])

Format = Annotated[Literal["json", "xml"], Path(description="json 或 xml")]
CLOSED = frozenset({TicketState.CLOSED, TicketState.REJECTED, TicketState.MERGED})
MAX_RESULTS = 1000  # the spec's default page
DEFAULT_DAYS = 90  # without start_date/end_date: the last 90 days, as the spec suggests


ERROR_LIST = {
    "type": "array",
    "description": "GeoReport v2 errors",
    "items": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "required": ["code", "description"],
    },
}


def documented(*codes: int, ok: int = 200) -> dict[int | str, dict[str, Any]]:
    """`responses=` for an Open311 operation: its answer and its errors, each in JSON or XML."""
    answers: dict[int | str, dict[str, Any]] = {
        ok: {
            "description": "JSON 或 XML（由路径的扩展名决定）",
            "content": {"application/json": {}, "text/xml": {}},
        }
    }
    for code in codes:
        answers[code] = {
            "description": "GeoReport v2 错误列表 [{code, description}]",
            "content": {"application/json": {"schema": ERROR_LIST}, "text/xml": {}},
        }
    return answers


class Open311Error(Exception):
    """An answer in the spec's error format: HTTP `status`, [{code, description}]."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# --- rendering ---------------------------------------------------------------------------------------

# The XML element of each list item, by the list's root element.
_ITEM = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
         "values": "value", "endpoints": "endpoint", "formats": "format"}  # fmt: skip


def _xml(parent: ElementTree.Element, name: str, value: Any) -> None:
    node = ElementTree.SubElement(parent, name)
    if isinstance(value, list):
        for item in value:
            _xml(node, _ITEM.get(name, "item"), item)
    elif isinstance(value, dict):
        for key, inner in value.items():
            _xml(node, key, inner)
    elif isinstance(value, bool):
        node.text = "true" if value else "false"
    elif value is not None:
        node.text = str(value)


def render(data: Any, fmt: str, *, root: str, status: int = 200) -> Response:
    """JSON as is; XML with `root` as the document element (a list's items named by _ITEM)."""
    if fmt == "xml":
        if isinstance(data, list):
            document = ElementTree.Element(root)
            for item in data:
                _xml(document, _ITEM.get(root, "item"), item)
        else:
            document = ElementTree.Element(root)
            for key, value in data.items():
                _xml(document, key, value)
        body = (
            b'<?xml version="1.0" encoding="utf-8"?>'
            + ElementTree.tostring(document, encoding="unicode").encode()
        )
        return Response(body, status_code=status, media_type="text/xml; charset=utf-8")
    return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type="application/json")


def error(exc: Open311Error, fmt: str) -> Response:
    return render(
        [{"code": exc.status, "description": exc.description}], fmt, root="errors", status=exc.status
    )


# --- reading -----------------------------------------------------------------------------------------


def _check_jurisdiction(jurisdiction_id: str | None) -> None:
    ours = get_settings().open311_jurisdiction
    if jurisdiction_id and jurisdiction_id != ours:
        raise Open311Error(404, f"jurisdiction_id not found: {jurisdiction_id} (this endpoint serves {ours})")


def _services(session: Session) -> list[Category]:
    return list(
        session.exec(
            select(Category)
            .where(col(Category.active), col(Category.parent_code).is_not(None))
            .order_by(col(Category.code))
        )
    )


def _groups(session: Session) -> dict[str, str]:
    return dict(
        session.exec(select(Category.code, Category.name).where(col(Category.parent_code).is_(None))).all()
    )


def service_list(session: Session) -> list[dict[str, Any]]:
    groups = _groups(session)
    return [
        {
            "service_code": c.code,
            "service_name": c.name,
            "description": f"{groups.get(c.parent_code or '', '')} · {c.name}",
            "metadata": True,
            "type": "realtime",
            "keywords": "",
            "group": groups.get(c.parent_code or "", ""),
        }
        for c in _services(session)
    ]


def _values(names: Mapping[Any, str]) -> list[dict[str, str]]:
    return [{"key": str(key), "name": name} for key, name in names.items()]


def service_definition(code: str) -> dict[str, Any]:
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": "request_type",
                "datatype": "singlevaluelist",
                "required": True,
                "datatype_description": "诉求类型",
                "order": 1,
                "description": "诉求类型：咨询、求助、投诉、举报或建议",
                "values": _values(REQUEST_TYPE_LABELS),
            },
            {
                "variable": True,
                "code": "urgency",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "紧急程度",
                "order": 2,
                "description": "紧急程度（默认一般）",
                "values": _values(URGENCY_LABELS),
            },
        ],
    }


def _status_notes(ticket: Ticket) -> str:
    if ticket.state is TicketState.REJECTED:
        return f"不予受理：{ticket.reject_reason or ''}"
    if ticket.state is TicketState.MERGED:
        return "已并入同一问题的其他工单办理"
    if ticket.state is TicketState.CLOSED:
        return f"已办结：{ticket.feedback_text}" if ticket.feedback_text else "已办结"
    return TICKET_STATE_LABELS[ticket.state]


def present(session: Session, tickets: Sequence[Ticket]) -> list[dict[str, Any]]:
    """Tickets as Open311 service requests (nobody's name or phone)."""
    ids = [t.id for t in tickets if t.id is not None]
    names = {c.code: c.name for c in session.exec(select(Category))}
    holders = {t.department_id or t.centre_id for t in tickets} - {None}
    agencies = dict(
        session.exec(select(Department.id, Department.name).where(col(Department.id).in_(holders))).all()
    )
    media = {
        e.ticket_id: e.payload.get("media_url")
        for e in session.exec(select(Event).where(col(Event.ticket_id).in_(ids)))
    }
    return [
        {
            "service_request_id": t.number,
            "status": "closed" if t.state in CLOSED else "open",
            "status_notes": _status_notes(t),
            "service_name": names.get(t.category_code, ""),
            "service_code": t.category_code,
            "description": t.description,
            "agency_responsible": agencies.get(
                t.department_id or t.centre_id or 0, "平城区网格化社会治理指挥中心"
            ),
            "service_notice": "",
            "requested_datetime": local_iso(t.created_at),
            "updated_datetime": local_iso(t.updated_at),
            "expected_datetime": local_iso(t.deadline_at),
            "address": t.address,
            "address_id": None,
            "zipcode": None,
            "lat": t.lat,
            "long": t.lon,
            "media_url": media.get(t.id),
        }
        for t in tickets
    ]


def _when(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be an ISO 8601 date-time (w3 format), got {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=ZoneInfo(get_settings().timezone))


def find_requests(session: Session, params: Mapping[str, str]) -> list[Ticket]:
    """GET requests: by service_request_id (comma-separated, overriding the rest), or by service_code,
    status (open/closed) and the start_date/end_date window on requested_datetime (default: the last 90
    days); newest first, at most 1000."""
    statement = select(Ticket).where(Ticket.source == Source.OPEN311)
    if ids := [i.strip() for i in params.get("service_request_id", "").split(",") if i.strip()]:
        return list(
            session.exec(statement.where(col(Ticket.number).in_(ids)).order_by(col(Ticket.id).desc()))
        )
    if codes := [c.strip() for c in params.get("service_code", "").split(",") if c.strip()]:
        statement = statement.where(col(Ticket.category_code).in_(codes))
    statuses = {s.strip() for s in params.get("status", "").split(",") if s.strip()}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, "status must be open or closed (comma-separated)")
    if statuses == {"open"}:
        statement = statement.where(col(Ticket.state).not_in(CLOSED))
    elif statuses == {"closed"}:
        statement = statement.where(col(Ticket.state).in_(CLOSED))
    start = _when(params.get("start_date"), "start_date")
    end = _when(params.get("end_date"), "end_date")
    if start is None and end is None:
        start = clock.now() - timedelta(days=DEFAULT_DAYS)
    if start is not None:
        statement = statement.where(col(Ticket.created_at) >= start)
    if end is not None:
        statement = statement.where(col(Ticket.created_at) <= end)
    return list(session.exec(statement.order_by(col(Ticket.id).desc()).limit(MAX_RESULTS)))


# --- filing ------------------------------------------------------------------------------------------


def _float(form: Mapping[str, Any], name: str) -> float | None:
    text = str(form.get(name) or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number, got {text!r}") from None


def file_request(
    session: Session, form: Mapping[str, Any], photos: Sequence[Any], key: keys.ApiKey
) -> Ticket:
    """POST requests: one ticket from the form (checked here, so the answer is the spec's error list)."""
    code = str(form.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    category = session.get(Category, code)
    if category is None or not category.active or category.parent_code is None:
        raise Open311Error(404, f"service_code not found: {code}")
    lat, lon = _float(form, "lat"), _float(form, "long")
    address = str(form.get("address_string") or "").strip()
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long must be given together")
    if lat is None and not address:
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    request_type = str(form.get("attribute[request_type]") or "").strip()
    if not request_type:
        raise Open311Error(
            400, "attribute[request_type] is required (诉求类型: " + ", ".join(REQUEST_TYPE_LABELS) + ")"
        )
    if request_type not in {t.value for t in RequestType}:
        raise Open311Error(400, f"attribute[request_type] must be one of {', '.join(REQUEST_TYPE_LABELS)}")
    urgency = str(form.get("attribute[urgency]") or "normal").strip()
    if urgency not in URGENCY_LABELS:
        raise Open311Error(400, "attribute[urgency] must be normal or urgent")
    description = str(form.get("description") or "").strip()
    limit = get_settings().text_max_chars
    if not description:
        raise Open311Error(400, "description is required")
    if len(description) > limit:
        raise Open311Error(400, f"description is longer than {limit} characters")
    name = " ".join(str(form.get(n) or "").strip() for n in ("last_name", "first_name")).strip() or None
    phone = str(form.get("phone") or "").strip() or None
    media_url = str(form.get("media_url") or "").strip() or None
    if media_url and not media_url.startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http(s) URL")
    account = keys.account(session, key)
    payload = {k: str(v) for k, v in form.items() if k != "api_key" and not isinstance(v, UploadFile)}
    report = Report(
        source=Source.OPEN311,
        external_id=None,
        payload={**payload, "api_key_id": key.id},
        fields={
            "request_type": RequestType(request_type),
            "category_code": code,
            "urgency": urgency,
            "description": description,
            "address": address[:255],
            "lon": lon,
            "lat": lat,
            "caller_name": name[:64] if name else None,
            "caller_phone": phone[:32] if phone else None,
            "reporter_id": account.id,
        },
        photos=read_photos(list(photos)),
        by=account,
    )
    try:
        ticket, _ = accept(session, report)
    except DispatchError as refused:
        raise Open311Error(400, str(refused)) from None
    return ticket


# --- endpoints ---------------------------------------------------------------------------------------


def _answer(fmt: str, root: str, work: Any) -> Response:
    try:
        return render(work(), fmt, root=root)
    except Open311Error as exc:
        return error(exc, fmt)


@router.get("/discovery.{fmt}", responses=documented())
def discovery(request: Request, fmt: Format) -> Response:
    """Where this endpoint is and what it speaks."""
    base = str(request.base_url).rstrip("/") + "/open311/v2/"
    return render(
        {
            "changeset": "2026-12-04T00:00:00+08:00",
            "contact": "平城区网格化社会治理指挥中心",
            "key_service": "API 密钥由指挥中心管理员发放（管理端 /api/admin/api-keys）",
            "endpoints": [
                {
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": base,
                    "changeset": "2026-12-04T00:00:00+08:00",
                    "type": "production",
                    "formats": ["application/json", "text/xml"],
                }
            ],
        },
        fmt,
        root="discovery",
    )


@router.get("/services.{fmt}", responses=documented(404))
def services(session: SessionDep, fmt: Format, jurisdiction_id: str | None = None) -> Response:
    """The services (our 小类), with their Chinese names and 大类 as group."""

    def work() -> list[dict[str, Any]]:
        _check_jurisdiction(jurisdiction_id)
        return service_list(session)

    return _answer(fmt, "services", work)


@router.get("/services/{service_code}.{fmt}", responses=documented(404))
def service(
    service_code: str, session: SessionDep, fmt: Format, jurisdiction_id: str | None = None
) -> Response:
    """A service definition: its attributes."""

    def work() -> dict[str, Any]:
        _check_jurisdiction(jurisdiction_id)
        if service_code not in {c.code for c in _services(session)}:
            raise Open311Error(404, f"service_code not found: {service_code}")
        return service_definition(service_code)

    return _answer(fmt, "service_definition", work)


@router.get("/requests.{fmt}", responses=documented(400, 404))
def list_requests(request: Request, session: SessionDep, fmt: Format) -> Response:
    """Service requests filed through Open311, with the spec's filters."""
    params = dict(request.query_params)

    def work() -> list[dict[str, Any]]:
        _check_jurisdiction(params.get("jurisdiction_id"))
        return present(session, find_requests(session, params))

    return _answer(fmt, "service_requests", work)


@router.get("/requests/{service_request_id}.{fmt}", responses=documented(404))
def get_request(
    service_request_id: str, session: SessionDep, fmt: Format, jurisdiction_id: str | None = None
) -> Response:
    """One service request (a list of one, as the spec has it)."""

    def work() -> list[dict[str, Any]]:
        _check_jurisdiction(jurisdiction_id)
        found = find_requests(session, {"service_request_id": service_request_id})
        if not found:
            raise Open311Error(404, f"service_request_id not found: {service_request_id}")
        return present(session, found)

    return _answer(fmt, "service_requests", work)


@router.get("/tokens/{token}.{fmt}", responses=documented(404))
def token(token: str, session: SessionDep, fmt: Format, jurisdiction_id: str | None = None) -> Response:
    """The request a token stands for (our requests get their id at once; the token is that id)."""

    def work() -> list[dict[str, str]]:
        _check_jurisdiction(jurisdiction_id)
        found = find_requests(session, {"service_request_id": token})
        if not found or found[0].number is None:
            raise Open311Error(404, f"token not found: {token}")
        return [{"service_request_id": found[0].number, "token": token}]

    return _answer(fmt, "service_requests", work)


@router.post("/requests.{fmt}", status_code=201, responses=documented(400, 401, 403, 404, ok=201))
async def post_request(request: Request, session: SessionDep, fmt: Format) -> Response:
    """File a service request (form fields of the spec; `api_key` in the form or the X-API-Key header;
    an optional photo as the file `media`)."""
    form = await request.form()
    try:
        _check_jurisdiction(str(form.get("jurisdiction_id") or "") or None)
        presented = str(form.get("api_key") or "") or request.headers.get("x-api-key")
        key = keys.authenticate(session, presented)
        if key is None:
            raise Open311Error(401, "api_key is missing or not valid")
        allowed = keys.Scope.OPEN311 in key.scopes
        keys.log_use(
            session, key, method="POST", path=request.url.path, scope=keys.Scope.OPEN311, allowed=allowed
        )
        if not allowed:
            session.commit()  # the refused use stays in the log
            raise Open311Error(403, "this api_key may not file Open311 requests")
        photos = [v for v in form.getlist("media") if isinstance(v, UploadFile)]
        ticket = await run_in_threadpool(file_request, session, form, photos, key)
        answer = [
            {"service_request_id": ticket.number, "service_notice": _notice(ticket), "account_id": None}
        ]
        session.commit()  # durable before the answer
        return render(answer, fmt, root="service_requests", status=201)
    except Open311Error as exc:
        return error(exc, fmt)


def _notice(ticket: Ticket) -> str:
    return f"已受理，工单号 {ticket.number}；办理进度可凭工单号查询"
