"""Grid versions: list them, and switch one on or off (routing follows on its next batch)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from dispatch.errors import InvalidInput, NotFound
from dispatch.grids.locator import current_version_id
from dispatch.grids.models import Area, AreaLevel, GridVersion


@dataclass(frozen=True)
class VersionInfo:
    id: int
    label: str
    effective_at: datetime
    created_at: datetime
    active: bool
    current: bool
    grids: int


def list_versions(session: Session) -> list[VersionInfo]:
    """Every grid version, newest first, with its grid count and whether routing uses it now."""
    current = current_version_id(session)
    counts = dict(
        session.exec(
            select(Area.version_id, func.count())
            .where(Area.level == AreaLevel.GRID)
            .group_by(col(Area.version_id))
        ).all()
    )
    versions = session.exec(select(GridVersion).order_by(col(GridVersion.id).desc())).all()
    return [
        VersionInfo(
            v.id or 0,
            v.label,
            v.effective_at,
            v.created_at,
            v.active,
            v.id == current,
            counts.get(v.id or 0, 0),
        )
        for v in versions
    ]


def set_active(session: Session, *, version_id: int, active: bool) -> GridVersion:
    """Switch a version on or off (flushes); the last active version cannot be switched off."""
    version = session.get(GridVersion, version_id)
    if version is None:
        raise NotFound(f"网格版本 {version_id} 不存在")
    if not active and version.active:
        others = session.exec(
            select(func.count())
            .select_from(GridVersion)
            .where(col(GridVersion.active), GridVersion.id != version_id)
        ).one()
        if not others:
            raise InvalidInput("这是唯一启用的网格版本，停用后将无法定位网格")
    version.active = active
    session.add(version)
    session.flush()
    return version
