"""What a department may see stays its own, also through the side doors: a ticket's duplicate
suggestions never show another department's ticket (its description, its caller) to someone who
would get 404 asking for that ticket directly."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.workflow_helpers import Desk, Login, department_id


def test_duplicate_suggestions_show_only_tickets_the_viewer_may_see(
    client: TestClient, login: Login, run_worker: Callable[[], None]
) -> None:
    desk = Desk(client, login)
    first = desk.patrol("06010")  # 暴露垃圾 in 永泰街道 → 区城市管理局 (cg)
    run_worker()
    second = desk.patrol("06010")  # the same place: the first one is its duplicate suggestion
    run_worker()
    assert [d["candidate"]["id"] for d in desk.get("dispatcher", second)["duplicates"]] == [first]
    desk.act("dispatcher", second, "redispatch", {"department_id": department_id("ga")})

    police = desk.get("ga1", second)  # ga now holds the second ticket, not the first
    assert police["duplicates"] == []
    desk.get("ga1", first, expect=404)
    assert [d["candidate"]["id"] for d in desk.get("dispatcher", second)["duplicates"]] == [first]
