"""Intake modes the harness can measure, and the synthetic events it sends.

A mode is how events reach the system: the extra environment its processes start with and how the
client submits one event (returning the ticket id once the system has acknowledged it durably).
`--mode all` measures both in one run. Routing is batched in both (one job takes every waiting ticket).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    """One synthetic report: a 12345 call (JSON) or a grid officer's patrol report (multipart)."""

    index: int
    kind: str  # "hotline" or "patrol"
    fields: dict[str, Any]
    base: str  # the API process it goes to (round robin over --api-procs)
    token: str


@dataclass(frozen=True)
class Acknowledged:
    ticket_id: int
    status: int


Submit = Callable[[httpx.AsyncClient, Event], Awaitable[Acknowledged]]


async def submit_per_event(client: httpx.AsyncClient, event: Event) -> Acknowledged:
    """One request per event; the 201 means the ticket is committed and its routing job enqueued."""
    headers = {"Authorization": f"Bearer {event.token}"}
    if event.kind == "hotline":
        answer = await client.post(f"{event.base}/api/intake/hotline", json=event.fields, headers=headers)
    else:
        form = {k: str(v) for k, v in event.fields.items()}
        answer = await client.post(f"{event.base}/api/intake/patrol", data=form, headers=headers)
    if answer.status_code != 201:
        raise httpx.HTTPStatusError(
            f"{answer.status_code}: {answer.text[:200]}", request=answer.request, response=answer
        )
    return Acknowledged(ticket_id=int(answer.json()["ticket_id"]), status=answer.status_code)


@dataclass(frozen=True)
class Mode:
    name: str
    description: str
    env: dict[str, str]
    submit: Submit | None  # None: not built yet


MODES: dict[str, Mode] = {
    "per-event": Mode(
        name="per-event",
        description="one HTTP request and one transaction per event (GRID_INTAKE_GROUP_COMMIT=false)",
        env={"GRID_INTAKE_GROUP_COMMIT": "false"},
        submit=submit_per_event,
    ),
    "batched": Mode(
        name="batched",
        description="one HTTP request per event, group commit: the events arriving while a commit is in "
        "flight share the next transaction (GRID_INTAKE_GROUP_COMMIT=true, the default)",
        env={"GRID_INTAKE_GROUP_COMMIT": "true"},
        submit=submit_per_event,
    ),
}


class EventMaker:
    """Deterministic synthetic events spread over the demo district's grids, a share of them patrol
    reports; call ids carry a run tag so runs against one database never collide."""

    def __init__(
        self, *, bases: list[str], hotline_token: str, officer_token: str, patrol_share: float
    ) -> None:
        from dispatch.demo.geometry import generate_district

        self.points = [
            (p.x, p.y)
            for p in (a.polygon.representative_point() for a in generate_district() if a.level == "grid")
        ]
        self.bases = bases
        self.hotline_token = hotline_token
        self.officer_token = officer_token
        self.patrol_share = patrol_share

    def make(self, tag: str, index: int) -> Event:
        lon, lat = self.points[(index * 7919) % len(self.points)]  # a prime stride spreads them out
        base = self.bases[index % len(self.bases)]
        if int((index + 1) * self.patrol_share) > int(index * self.patrol_share):
            fields: dict[str, Any] = {
                "lon": lon,
                "lat": lat,
                "category_code": "06010",
                "description": f"基准测试巡查上报 {tag}-{index}",
            }
            return Event(index, "patrol", fields, base, self.officer_token)
        fields = {
            "call_id": f"BENCH-{tag}-{index:07d}",
            "caller_name": "测试",
            "caller_phone": "13800000000",
            "lon": lon,
            "lat": lat,
            "request_type": "complaint",
            "category_code": "06010",
            "content": f"基准测试来电 {tag}-{index}",
        }
        return Event(index, "hotline", fields, base, self.hotline_token)
