"""Crafted base-data files for the base-data tests: a tiny valid district and ways to break it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Ring = list[list[float]]

# A small hierarchy inside the real frame: one street, one community, two grids side by side.
W, S, E, N, MID = 113.20, 40.05, 113.21, 40.06, 113.205


def box(w: float, s: float, e: float, n: float) -> Ring:
    """A closed, counter-clockwise rectangle ring."""
    return [[w, s], [e, s], [e, n], [w, n], [w, s]]


def feature(code: str, level: str, ring: Ring, *, parent: str | None = None, **props: Any) -> dict[str, Any]:
    properties = {"code": code, "name": f"区域{code}", "level": level, "parent_code": parent, **props}
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def tiny_district(**grid_props: Any) -> list[dict[str, Any]]:
    """Features 1–5: district, street, community, grid 001 (west half), grid 002 (east half)."""
    return [
        feature("140213", "district", box(W, S, E, N)),
        feature("140213050", "street", box(W, S, E, N), parent="140213"),
        feature("140213050001", "community", box(W, S, E, N), parent="140213050"),
        feature("140213050001001", "grid", box(W, S, MID, N), parent="140213050001", **grid_props),
        feature("140213050001002", "grid", box(MID, S, E, N), parent="140213050001", **grid_props),
    ]


def write(path: Path, features: list[dict[str, Any]], **top: Any) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", **top, "features": features}), encoding="utf-8")
    return path


def app_with(*routers: Any) -> Any:
    """The real app plus routers not wired into create_app yet (placed before the static web mount)."""
    from fastapi import FastAPI
    from starlette.routing import Mount

    from dispatch.app import create_app

    app: FastAPI = create_app()
    for router in routers:
        app.include_router(router)
    mounts = [r for r in app.router.routes if isinstance(r, Mount)]
    for mount in mounts:
        app.router.routes.remove(mount)
        app.router.routes.append(mount)
    return app


def bearer(client: Any, username: str) -> dict[str, str]:
    answer = client.post("/api/auth/token", data={"username": username, "password": "demo1234"})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}
