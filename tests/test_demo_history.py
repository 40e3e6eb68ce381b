"""A month of demo history plays through the real workflow: every log row is a move of the transition
table, the month's KPIs tell departments apart, supervision, field checks and the command network all
took part, and the same seed gives the same history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import col, func, select

from dispatch import clock
from dispatch.cli import main
from dispatch.db import engine_for, new_session
from dispatch.demo.history import HistoryRefused, MonthReport, play_month, supervision_ticks
from dispatch.grids import locator
from dispatch.grids import service as grid_service
from dispatch.tickets.models import Ticket, TicketLog
from dispatch.tickets.side_models import VerificationStatus, VerificationTask
from dispatch.tickets.transitions import TRANSITIONS
from tests.conftest import _use_database

TZ = ZoneInfo("Asia/Shanghai")
TODAY = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)  # November 2026 is over
MONTH = {"date_from": "2026-11-01T00:00:00", "date_to": "2026-12-01T00:00:00"}
SMALL = {"year": 2026, "month": 11, "per_day": 3.0, "seed": 7, "supervise_every_min": 120}


def small_month() -> MonthReport:
    clock.set_clock(lambda: TODAY)
    return play_month(**SMALL)  # type: ignore[arg-type]


def kpis(client: TestClient, headers: dict[str, str], group_by: str) -> list[dict[str, object]]:
    answer = client.get("/api/stats/kpis", params={**MONTH, "group_by": group_by}, headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["rows"])


def test_a_month_plays_through_the_workflow(
    client: TestClient, login: Callable[[str], dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    report = small_month()
    assert report.refused == {}, "the product refused moves the history thought legal"
    assert 50 <= report.arrivals == sum(report.tickets.values())
    assert report.sources["patrol"] and report.sources["hotline"]
    assert report.tickets["closed"] > report.arrivals / 2
    assert sum(n for s, n in report.tickets.items() if s not in ("closed", "rejected", "merged")) > 0
    with new_session() as session:
        moves = session.exec(select(TicketLog.from_state, TicketLog.action)).all()
        answered = session.exec(
            select(func.count()).where(col(VerificationTask.status) == VerificationStatus.DONE)
        ).one()
        first, last = session.exec(select(func.min(Ticket.created_at), func.max(Ticket.created_at))).one()
    assert moves and all((state, action) in TRANSITIONS for state, action in moves)
    assert answered > 0  # field checks answered by the grid officers
    assert datetime(2026, 10, 31, 16, tzinfo=UTC) <= first and last < datetime(2026, 11, 30, 16, tzinfo=UTC)
    actions = report.actions
    for action in (
        "warn_sign",
        "warn_yellow",
        "warn_red",
        "urge",
        "ack_urge",
        "callback",
        "sign",
        "feedback",
    ):
        assert actions.get(action, 0) > 0, action
    assert actions.get("verify_answer", 0) > 0 and actions.get("self_resolve", 0) > 0

    leader = login("leader")
    departments = [r for r in kpis(client, leader, "department") if int(str(r["dispatched"])) >= 3]
    assert len(departments) >= 4
    figures = {(r["response_rate"], r["on_time_sign_rate"], r["on_time_handling_rate"]) for r in departments}
    assert len(figures) >= 3, figures  # departments differ: the rankings mean something
    centres = kpis(client, leader, "centre")
    queued = {str(r["name"]) for r in centres if int(str(r["queued"])) > 0}
    assert any(name.endswith("工作站") for name in queued), queued
    assert any(name.endswith("综治中心") for name in queued), queued

    with pytest.raises(HistoryRefused, match="已经过去"):
        play_month(year=2026, month=12, per_day=1)
    with pytest.raises(SystemExit) as refused:  # the command: once per month
        main(["demo-history", "--month", "2026-11", "--per-day", "3"])
    assert refused.value.code == 2
    assert "不重复生成" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo-history", "--month", "2026-13"])


def test_the_same_seed_gives_the_same_history(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_db: Redis
) -> None:
    counts = []
    for name in ("one", "two"):
        path = tmp_path / f"{name}.sqlite3"
        path.write_bytes(sqlite_template.read_bytes())
        _use_database(monkeypatch, f"sqlite:///{path}", tmp_path)
        locator._cache.clear()
        grid_service._extents.clear()
        clock.set_clock(lambda: TODAY)
        counts.append(play_month(**{**SMALL, "days": 10}).counts())  # type: ignore[arg-type]
        engine_for(f"sqlite:///{path}").dispose()
    assert counts[0] == counts[1]
    assert counts[0]["arrivals"]


def test_supervision_runs_every_half_hour_of_office_time(database_url: str) -> None:
    start, end = datetime(2026, 11, 2, tzinfo=TZ), datetime(2026, 11, 4, tzinfo=TZ)  # Monday, Tuesday
    ticks = list(supervision_ticks(start, end, 30))
    office = [t for t in ticks if 8 <= t.hour < 18]
    assert len(office) == 2 * 20 and len(ticks) == 2 * (22 + 4) - 1  # not at the first instant
    assert ticks == sorted(ticks) and start < ticks[0] and ticks[-1] < end
