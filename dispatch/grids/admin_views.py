"""Admin API for grids: import a GeoJSON file (with a dry run), export a version, list and switch versions."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, UploadFile
from fastapi.responses import StreamingResponse

from dispatch.auth.deps import Admin
from dispatch.db import SessionDep, new_session
from dispatch.grids import versions
from dispatch.grids.export import export_chunks
from dispatch.grids.importer import DEFAULT_TOLERANCE_M2, import_grid_file
from dispatch.grids.locator import current_version_id
from dispatch.inputs import DbId, LocalDateTime
from dispatch.openapi import error_responses

router = APIRouter(prefix="/api/admin/grids", tags=["admin: grids"])


@router.post("/import")
def import_grids(
    _: Admin,
    session: SessionDep,
    file: UploadFile,
    dry_run: bool = False,
    label: str = "",
    effective_at: LocalDateTime | None = None,
    tolerance_m2: float = DEFAULT_TOLERANCE_M2,
    accept_shift: bool = False,
) -> dict[str, Any]:
    """Validate an uploaded FeatureCollection; import it as a new version unless dry_run or invalid.

    Answers 200 with the report either way (`ok`, every problem with its feature number) and the new
    `version_id` (null when nothing was written). `accept_shift` turns a whole-district shift against
    the current version (e.g. GCJ-02 coordinates) from an error into a warning.
    """
    with tempfile.TemporaryDirectory(prefix="grid-upload-") as folder:
        path = Path(folder) / "upload.geojson"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, length=1 << 20)
        result = import_grid_file(
            session,
            path,
            label=label or file.filename or "上传文件",
            effective_at=effective_at,
            dry_run=dry_run,
            tolerance_m2=tolerance_m2,
            accept_shift=accept_shift,
        )
    return {**result.report.to_dict(), "version_id": result.version_id}


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={**error_responses(404), 200: {"content": {"application/geo+json": {}}}},
)
def export_grids(_: Admin, session: SessionDep, version_id: DbId | None = None) -> StreamingResponse:
    """A version (default: the current one) as GeoJSON, streamed; re-importing it gives the same export."""
    chosen = version_id if version_id is not None else current_version_id(session)
    chunks = _stream(chosen)
    first = next(chunks)  # raises NotFound (404) before any byte is sent
    return StreamingResponse(
        _prepend(first, chunks),
        media_type="application/geo+json",
        headers={"Content-Disposition": f'attachment; filename="grids-v{chosen}.geojson"'},
    )


def _stream(version_id: int | None) -> Iterator[str]:
    with new_session() as session:  # its own session: the response outlives the request's
        yield from export_chunks(session, version_id=version_id)


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


@router.get("/versions")
def list_versions(_: Admin, session: SessionDep) -> list[dict[str, Any]]:
    """Every grid version, newest first; `current` marks the one routing uses now."""
    return [v.__dict__ for v in versions.list_versions(session)]


@router.post("/versions/{version_id}/activate")
def activate(version_id: DbId, _: Admin, session: SessionDep) -> dict[str, Any]:
    version = versions.set_active(session, version_id=version_id, active=True)
    return {"id": version.id, "active": version.active}


@router.post("/versions/{version_id}/deactivate")
def deactivate(version_id: DbId, _: Admin, session: SessionDep) -> dict[str, Any]:
    """Switch a version off; the last active version cannot be switched off (422)."""
    version = versions.set_active(session, version_id=version_id, active=False)
    return {"id": version.id, "active": version.active}
