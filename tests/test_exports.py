"""Exports of ticket lists and timelines: any filter of the list, only what the caller may see, phones
masked but for hotline staff, CSV and XLSX with the same rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.workflow_helpers import Desk

Login = Callable[[str], dict[str, str]]


def rows(
    client: TestClient, headers: dict[str, str], path: str = "tickets", **params: str
) -> list[list[str]]:
    answer = client.get(f"/api/exports/{path}", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))


def test_exports_follow_the_list_filters_and_who_may_see(
    client: TestClient, login: Login, run_worker: Callable[[], None]
) -> None:
    desk = Desk(client, login)
    called = desk.call("EXPORT-1", caller_phone="13511112222")  # 暴露垃圾 → 区城市管理局
    desk.call("EXPORT-2", located=False, address="没有这个地址")  # waits in the manual queue
    reported = desk.patrol("06010")
    run_worker()

    everything = rows(client, desk.headers("dispatcher"))
    assert everything[0][:6] == ["工单号", "来源", "诉求类型", "类别编码", "类别", "状态"]
    numbers = {r[0] for r in everything[1:]}
    assert len(numbers) == 3
    by_number = {r[0]: dict(zip(everything[0], r, strict=True)) for r in everything[1:]}
    call = by_number[desk.get("dispatcher", called)["number"]]
    assert (call["来源"], call["类别"], call["状态"], call["责任部门"]) == (
        "12345热线",
        "暴露垃圾",
        "已派遣",
        "区城市管理局",
    )
    assert call["联系电话"] == "135****2222"  # masked for the centre
    hotline = {r[0]: r for r in rows(client, desk.headers("hotline"))[1:]}
    assert "13511112222" in hotline[call["工单号"]]
    assert desk.get("dispatcher", reported)["number"] not in hotline  # hotline staff see 12345 tickets only

    manual = rows(client, desk.headers("dispatcher"), state="manual")
    assert [r[5] for r in manual[1:]] == ["待人工派遣"]
    department = {r[0] for r in rows(client, desk.headers("cg1"))[1:]}
    assert department == {r[0] for r in everything[1:] if by_number[r[0]]["责任部门"] == "区城市管理局"}

    # XLSX: the same rows.
    answer = client.get("/api/exports/tickets", params={"format": "xlsx"}, headers=desk.headers("dispatcher"))
    sheet = load_workbook(io.BytesIO(answer.content), read_only=True).worksheets[0]
    cells = [["" if c is None else str(c) for c in row] for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == everything[0] and sorted(r[0] for r in cells[1:]) == sorted(numbers)

    # Timelines: one row per move of each matching ticket, oldest first.
    timeline = rows(client, desk.headers("dispatcher"), "timelines", state="dispatched")
    assert timeline[0] == ["工单号", "时间", "操作人", "操作", "原状态", "新状态", "备注"]
    moves = [r for r in timeline[1:] if r[0] == call["工单号"]]
    assert [r[3] for r in moves] == ["受理", "自动派遣"] and moves[1][5] == "已派遣"
    assert len(timeline) - 1 == sum(len(desk.get("dispatcher", t)["log"]) for t in (called, reported))
    assert client.get("/api/exports/tickets").status_code == 401
