"""A move's answer means it is committed: the request's transaction commits before the response
starts, so the next request (on any connection) sees it and a failed commit never answers 200. The
session used to commit in cleanup that FastAPI runs after the response is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import Session

from dispatch.tickets.tasks import route_tickets
from tests.helpers import grids_in, inside, patrol


def test_a_move_commits_before_its_response_starts(
    client: TestClient, login: Callable[[str], dict[str, str]], session: Session
) -> None:
    lon, lat = inside(grids_in("140213050")[0])
    ticket = patrol(session, lon=lon, lat=lat, category="10001")  # 其他事件: the manual queue
    route_tickets([ticket.id or 0])
    headers = login("dispatcher")
    order: list[str] = []
    app = client.app

    async def watch_response(scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                order.append("response")
            await send(message)

        await app(scope, receive, sending)  # type: ignore[operator]

    def committed(_session: Session) -> None:
        order.append("commit")

    event.listen(Session, "after_commit", committed)
    try:
        with TestClient(watch_response) as watched:
            answer = watched.post(
                f"/api/tickets/{ticket.id}/reject", headers=headers, json={"reason": "重复上报，作废"}
            )
    finally:
        event.remove(Session, "after_commit", committed)
    assert answer.status_code == 200, answer.text
    assert "commit" in order and order[-1] == "response", order  # nothing committed after the answer
