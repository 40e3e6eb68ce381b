"""What intake accepts: every field bounded and checked before anything is written."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dispatch.catalog.models import Urgency
from dispatch.events.models import RequestType

Lon = Annotated[float, Field(ge=-180, le=180, description="WGS-84 longitude, degrees")]
Lat = Annotated[float, Field(ge=-90, le=90, description="WGS-84 latitude, degrees")]
CategoryCode = Annotated[str, StringConstraints(pattern=r"^\d{2}(\d{3})?$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
CallId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$")]
ClientRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")]


class PatrolIntake(BaseModel):
    """A grid officer's patrol report (multipart form fields; photos travel beside them)."""

    model_config = ConfigDict(extra="forbid")

    lon: Lon
    lat: Lat
    category_code: CategoryCode
    description: Text
    urgency: Urgency = Urgency.NORMAL
    address: ShortText = ""
    client_ref: ClientRef | None = Field(
        default=None, description="the phone's idempotency key: a resent report returns the first ticket"
    )
    self_resolved: bool = Field(
        default=False,
        description="自行处置: the officer fixed it on the spot; needs a photo, closes the case",
    )

    @model_validator(mode="before")
    @classmethod
    def _photos_travel_beside(cls, data: Any) -> Any:
        """The multipart body also carries the `photos` files; they are checked separately."""
        if isinstance(data, dict) and "photos" in data:
            return {k: v for k, v in data.items() if k != "photos"}
        return data


class HotlineIntake(BaseModel):
    """A 12345 call as the operator enters it or the call-centre system posts it."""

    model_config = ConfigDict(extra="forbid")

    call_id: CallId = Field(description="the call-centre's id; re-posting it returns the existing ticket")
    caller_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    caller_phone: Phone
    lon: Lon | None = None
    lat: Lat | None = Field(default=None, validate_default=True)
    address: ShortText = Field(default="", validate_default=True)
    request_type: RequestType
    category_code: CategoryCode
    content: Text
    urgency: Urgency = Urgency.NORMAL

    @field_validator("lat")
    @classmethod
    def _lat_with_lon(cls, lat: float | None, info: ValidationInfo) -> float | None:
        if "lon" in info.data and (info.data["lon"] is None) != (lat is None):
            missing = "lat" if lat is None else "lon"
            raise ValueError(f"{missing} is missing: lon and lat must be given together")
        return lat

    @field_validator("address")
    @classmethod
    def _address_or_position(cls, address: str, info: ValidationInfo) -> str:
        if not address and info.data.get("lat") is None and info.data.get("lon") is None:
            raise ValueError("give an address or a position (lon, lat)")
        return address


BATCH_MAX = 500


class HotlineBatch(BaseModel):
    """Calls sent together — a call-centre system catching up after an outage, the city platform
    replaying a backlog. Each item is what POST /api/intake/hotline takes, checked on its own."""

    model_config = ConfigDict(extra="forbid")

    calls: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=BATCH_MAX,
        description="每项与 POST /api/intake/hotline 的请求体相同（HotlineIntake），逐项校验、逐项受理",
    )
