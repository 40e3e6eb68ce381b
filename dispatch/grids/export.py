"""Grid export as an RFC 7946 FeatureCollection that re-imports to the same export, byte for byte."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

from sqlalchemy import func
from sqlmodel import Session, col, select

from dispatch.auth.models import User
from dispatch.errors import NotFound
from dispatch.grids.locator import current_version_id
from dispatch.grids.models import Area, GridVersion


def export_chunks(session: Session, *, version_id: int | None = None) -> Iterator[str]:
    """The version's areas (default: the current one) as GeoJSON text, one feature per line, streamed.

    Parents come before children, each level in code order; coordinates are written exactly as
    stored (WGS-84 lon/lat), so export → import → export gives identical text.
    """
    version_id = version_id if version_id is not None else current_version_id(session)
    if version_id is None or session.get(GridVersion, version_id) is None:
        raise NotFound(f"网格版本 {version_id} 不存在")
    query = (
        select(Area, User.username)
        .outerjoin(User, col(User.id) == col(Area.duty_officer_id))
        .where(Area.version_id == version_id)
        .order_by(func.length(Area.code), col(Area.code))
        .execution_options(yield_per=1000)
    )
    yield '{"type":"FeatureCollection","features":[\n'
    separator = ""
    for area, officer in session.exec(query):
        properties = {
            "code": area.code,
            "name": area.name,
            "level": area.level.value,
            "parent_code": area.parent_code,
            "kind": area.kind,
            "duty_officer": officer,
        }
        head = json.dumps(
            {"type": "Feature", "id": area.code, "properties": properties},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        yield f'{separator}{head[:-1]},"geometry":{area.geometry}}}'
        separator = ",\n"
    yield "\n]}\n"


def export_geojson(session: Session, out: TextIO, *, version_id: int | None = None) -> None:
    """Write `export_chunks` to a text stream."""
    for chunk in export_chunks(session, version_id=version_id):
        out.write(chunk)
