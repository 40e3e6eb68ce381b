"""GET /api/routing/explain: why routing places an event (or a real ticket) where it does."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from dispatch.auth.deps import require_role
from dispatch.auth.models import Role, User
from dispatch.catalog import explain as service
from dispatch.catalog.models import Urgency
from dispatch.db import SessionDep
from dispatch.errors import InvalidInput
from dispatch.events.models import RequestType
from dispatch.inputs import DbId
from dispatch.openapi import error_responses

router = APIRouter(prefix="/api/routing", tags=["routing"])

CentreStaff = Annotated[User, Depends(require_role(Role.DISPATCHER, Role.SHIFT_LEAD, Role.ADMIN))]


@router.get("/explain", responses=error_responses(404))  # 404: no ticket `ticket_id`
def explain(
    _: CentreStaff,
    session: SessionDep,
    category_code: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    address: str | None = None,
    urgency: Urgency = Urgency.NORMAL,
    request_type: RequestType | None = None,
    ticket_id: DbId | None = None,
) -> dict[str, Any]:
    """Grid (and version), matched rule, department, the time limit that applies (by 12345 request type,
    category and urgency) with the deadline, and each other candidate rule's fate.

    Give `ticket_id` for a real ticket, or `category_code` with `lon`+`lat` (WGS-84) or `address`.
    """
    if ticket_id is not None:
        return asdict(service.explain_ticket(session, ticket_id=ticket_id))
    if not category_code:
        raise InvalidInput("需要事件类别 category_code（或 ticket_id）", field="category_code")
    located: dict[str, Any] = {}
    if lon is None or lat is None:
        if not address:
            raise InvalidInput("需要经纬度 lon/lat（WGS-84）或地址 address", field="lon")
        lon, lat, located = _from_address(session, address)
    if not (-180 <= lon <= 180):
        raise InvalidInput("经度超出范围（WGS-84）", field="lon")
    if not (-90 <= lat <= 90):
        raise InvalidInput("纬度超出范围（WGS-84）", field="lat")
    result = asdict(
        service.explain_point(
            session,
            lon=lon,
            lat=lat,
            category_code=category_code,
            urgency=urgency,
            request_type=request_type,
        )
    )
    return {**result, **located}


def _from_address(session: SessionDep, address: str) -> tuple[float, float, dict[str, Any]]:
    from dispatch.gazetteer.matcher import locate_address

    point, candidates = locate_address(session, address)
    if point is None:
        raise InvalidInput(
            "地址无法唯一定位，请从候选中选择或提供经纬度",
            field="address",
            candidates=[asdict(c) for c in candidates],
        )
    return point.lon, point.lat, {"address_match": asdict(point)}
