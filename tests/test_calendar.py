"""The district's work calendar: loading a year's State Council schedule (validated, all or nothing),
deadlines across its holidays, estimated deadlines marked and re-counted, countdown periods for the
pages, warnings before the year turns, and 挂账 that gives back the parked time to the second."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session

from dispatch import clock
from dispatch.catalog.models import LimitUnit
from dispatch.events.models import Source
from dispatch.tickets.deadlines import extend_by_pause
from dispatch.tickets.models import Ticket
from dispatch.tickets.tasks import route_tickets
from dispatch.workcal import calendar as calendar_module
from dispatch.workcal.models import CalendarYear
from dispatch.worktime import deadline_for, is_workday
from tests.helpers import grids_in, inside, patrol

SH = ZoneInfo("Asia/Shanghai")

# Not the official 2027 schedule: a complete year in the file format, with 春节 5–13 February
# (Fri–Sat) and Saturday 20 February a make-up working day.
YEAR_2027 = """\
year: 2027
title: 测试用2027年节假日安排
holidays:
  - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
  - {name: 春节, from: 2027-02-05, to: 2027-02-13}
  - {name: 清明节, from: 2027-04-03, to: 2027-04-05}
  - {name: 劳动节, from: 2027-05-01, to: 2027-05-05}
  - {name: 端午节, from: 2027-06-09, to: 2027-06-11}
  - {name: 中秋节, from: 2027-09-15, to: 2027-09-17}
  - {name: 国庆节, from: 2027-10-01, to: 2027-10-07}
workdays:
  - {name: 春节, date: 2027-02-20}
  - {name: 劳动节, date: 2027-04-25}
  - {name: 国庆节, date: 2027-10-09}
"""

BROKEN_2027 = """\
year: 2027
holidays:
  - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
  - {name: 春节, from: 2027-02-05, to: 2027-02-13}
  - {name: 国庆节, from: 2027-10-01, to: 2028-01-02}
  - {name: 劳动节, date: 2026-05-01}
workdays:
  - {name: 春节, date: 2027-02-10}
  - {name: 劳动节, date: 2027-04-28}
"""


def sh(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SH)


@pytest.fixture(autouse=True)
def _no_snapshot_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every computation re-checks whether another process loaded a year (in production: every 5 s)."""
    monkeypatch.setattr(calendar_module, "RECHECK_S", 0.0)


def grid_dispatch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the admin command as an admin would, against the test's database."""
    return subprocess.run(
        [sys.executable, "-m", "dispatch.cli", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def signed_ticket(*, deadline_at: datetime) -> Ticket:
    """A ticket (not stored) dispatched on Tuesday 2026-12-01 09:00 and due at `deadline_at`."""
    return Ticket(
        source=Source.PATROL,
        category_code="06028",
        description="x",
        created_at=sh(2026, 12, 1, 9),
        updated_at=sh(2026, 12, 1, 9),
        dispatched_at=sh(2026, 12, 1, 9),
        deadline_at=deadline_at,
    )


def test_resume_gives_back_the_parked_working_time_to_the_second(database_url: str) -> None:
    # Due Wed 2026-12-09 17:00:00; parked Fri 12-04 10:00:11 → resumed Tue 12-08 10:00:42.
    # Parked working time: Fri 10:00:11–12:00 (1:59:49) + 13:30–17:30 (4:00) + Mon 7:30
    #   + Tue 08:30–10:00:42 (1:30:42) = 15:00:31.
    # Wed 17:00:00 + 15:00:31: Wed 17:00–17:30 0:30 → 14:30:31; Thu 7:30 → 7:00:31;
    #   Fri 08:30–12:00 3:30 → 3:30:31; 13:30 + 3:30:31 = Fri 2026-12-11 17:00:31.
    ticket = signed_ticket(deadline_at=sh(2026, 12, 9, 17))
    extend_by_pause(ticket, paused_from=sh(2026, 12, 4, 10, 0, 11), now=sh(2026, 12, 8, 10, 0, 42))
    assert ticket.deadline_at == sh(2026, 12, 11, 17, 0, 31)


def test_resume_of_an_overdue_ticket_keeps_it_overdue_by_as_much(database_url: str) -> None:
    # Due Mon 2026-12-07 10:00, parked Tue 12-08 09:00 (30 working min overdue... and more),
    # resumed Wed 12-09 09:00: parked working time = Tue 09:00–17:30 (7:00) + Wed 08:30–09:00 (0:30).
    # Mon 10:00 + 7:30 → Mon 10:00–12:00 2:00, 13:30–17:30 4:00 → 1:30 left → Tue 08:30 + 1:30 = 10:00.
    ticket = signed_ticket(deadline_at=sh(2026, 12, 7, 10))
    extend_by_pause(ticket, paused_from=sh(2026, 12, 8, 9), now=sh(2026, 12, 9, 9))
    assert ticket.deadline_at == sh(2026, 12, 8, 10)


def test_a_2027_file_loads_and_deadlines_cross_its_spring_festival(
    database_url: str, session: Session, redis_db: Redis, tmp_path: Path
) -> None:
    # A noise complaint (噪声扰民, 3 working days) dispatched Thu 2027-02-04 16:00.
    clock.set_clock(lambda: sh(2027, 2, 4, 16).astimezone(UTC))
    lon, lat = inside(grids_in("140213050")[0])
    ticket = patrol(session, lon=lon, lat=lat, category="06028")
    route_tickets([ticket.id or 0])
    session.expire_all()
    estimated = session.get(Ticket, ticket.id)
    assert estimated is not None and estimated.dispatched_at == sh(2027, 2, 4, 16)
    # No 2027 calendar yet: Mon–Fri are assumed, and the deadline says it is an estimate.
    # Thu 16:00–17:30 90 → 1260 left; Fri 02-05 450 → 810; Mon 02-08 450 → 360;
    #   Tue 02-09 08:30 + 210 → 150 left → 13:30 + 150 = 16:00.
    assert estimated.deadline_at == sh(2027, 2, 9, 16)
    assert estimated.deadline_provisional is True

    path = tmp_path / "2027.yaml"
    path.write_text(YEAR_2027, encoding="utf-8")
    dry = grid_dispatch(tmp_path, "calendar", "load", str(path), "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "试运行" in dry.stdout and session.get(CalendarYear, 2027) is None
    loaded = grid_dispatch(tmp_path, "calendar", "load", str(path))
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "2027 年工作日历已载入" in loaded.stdout and "1 张工单" in loaded.stdout

    # With the file: Thu 02-04 16:00–17:30 90 → 1260 left; 02-05..02-13 春节, 02-14 Sunday;
    #   Mon 02-15 450 → 810; Tue 02-16 450 → 360; Wed 02-17 08:30 + 210 → 150 → 13:30 + 150 = 16:00.
    assert deadline_for(sh(2027, 2, 4, 16), 3, LimitUnit.WORKING_DAYS) == sh(2027, 2, 17, 16)
    assert is_workday(date(2027, 2, 20)) is True  # Saturday, 调休上班
    assert is_workday(date(2027, 2, 8)) is False  # Monday inside 春节
    session.expire_all()
    recounted = session.get(Ticket, ticket.id)
    assert recounted is not None
    assert (recounted.deadline_at, recounted.deadline_provisional) == (sh(2027, 2, 17, 16), False)

    again = grid_dispatch(tmp_path, "calendar", "load", str(path))
    assert again.returncode == 2 and "replace" in again.stderr  # a loaded year is not overwritten by accident
    shown = grid_dispatch(tmp_path, "calendar", "show", "2027")
    assert "2027-02-20  六  上班  春节" in shown.stdout


def test_a_broken_file_is_refused_with_every_problem_and_writes_nothing(
    database_url: str, session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN_2027, encoding="utf-8")
    result = grid_dispatch(tmp_path, "calendar", "load", str(path))
    assert result.returncode == 2
    out = result.stdout
    assert "不完整" in out and "清明节" in out and "端午节" in out and "中秋节" in out  # year incomplete
    assert "日期范围无效" in out  # 国庆节 running into 2028 (and longer than any break)
    assert "2026-05-01 不在 2027 年内" in out
    assert "2027-02-10 既是放假日又是调休上班日" in out
    assert "2027-04-28" in out and "不能作为调休上班日" in out  # a Wednesday cannot be a make-up day
    assert "未写入任何数据" in out
    assert session.get(CalendarYear, 2027) is None


def test_csv_files_load_and_a_year_exports_in_the_import_format(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    admin = login("admin")
    lines = ["date,kind,name"]
    for name, first, last in [
        ("元旦", 1, 1),
        ("春节", 36, 43),
        ("清明节", 93, 95),
        ("劳动节", 121, 125),
        ("端午节", 160, 160),
        ("中秋节", 258, 258),
        ("国庆节", 274, 280),
    ]:
        for n in range(first, last + 1):
            lines.append(f"{date(2027, 1, 1) + timedelta(days=n - 1)},放假,{name}")
    lines.append("2027-02-20,上班,春节")
    csv_text = "\n".join(lines) + "\n"
    answer = client.post(
        "/api/admin/calendar/import?fmt=csv",
        headers=admin,
        files={"file": ("2027.csv", csv_text.encode(), "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["written"] is True and answer.json()["year"] == 2027

    exported = client.get("/api/admin/calendar/2027/export?fmt=yaml", headers=admin)
    assert exported.status_code == 200
    again = client.post(
        "/api/admin/calendar/import?fmt=yaml&replace=true",
        headers=admin,
        files={"file": ("2027.yaml", exported.content, "application/yaml")},
    )
    assert again.status_code == 200, again.text
    days = client.get("/api/admin/calendar/2027", headers=admin).json()["days"]
    assert len(days) == len(lines) - 1
    assert {"day": "2027-02-20", "year": 2027, "is_workday": True, "name": "春节"} in days

    refused = client.post(
        "/api/admin/calendar/import?fmt=csv",
        headers=admin,
        files={"file": ("2028.csv", "date,kind,name\n2028-01-01,off,元旦\n".encode(), "text/csv")},
    )
    assert refused.status_code == 422
    assert refused.json()["report"]["ok"] is False and refused.json()["field"] == "file"
    forbidden = client.post(
        "/api/admin/calendar/import",
        headers=login("dispatcher"),
        files={"file": ("x.yaml", YEAR_2027.encode(), "application/yaml")},
    )
    assert forbidden.status_code == 403


def test_pages_get_working_periods_across_national_day(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    assert client.get("/api/calendar?from=2026-09-30&to=2026-10-11").status_code == 401
    answer = client.get("/api/calendar?from=2026-09-30&to=2026-10-11", headers=login("cg1"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    working = [d["date"] for d in body["days"] if d["workday"]]
    # 10-01..10-07 国庆 off; Sat 10-10 a make-up working day; Sun 10-11 off.
    assert working == ["2026-09-30", "2026-10-08", "2026-10-09", "2026-10-10"]
    assert body["days"][1] == {"date": "2026-10-01", "workday": False, "name": "国庆节"}
    assert len(body["periods"]) == 8  # two office periods on each working day
    assert body["periods"][0] == {"start": "2026-09-30T00:30:00Z", "end": "2026-09-30T04:00:00Z"}
    assert body["missing_years"] == []
    too_long = client.get("/api/calendar?from=2026-01-01&to=2027-12-31", headers=login("cg1"))
    assert too_long.status_code == 422 and too_long.json()["field"] == "to"


def test_health_warns_from_1_december_until_next_year_is_loaded(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    admin = login("admin")  # tokens carry real time; the clock below only moves the calendar's "today"
    clock.set_clock(lambda: sh(2026, 11, 30, 12).astimezone(UTC))
    assert client.get("/api/health").json()["warnings"] == []
    clock.set_clock(lambda: sh(2026, 12, 1, 9).astimezone(UTC))
    warnings = client.get("/api/health").json()["warnings"]
    assert len(warnings) == 1 and "2027 年工作日历尚未载入" in warnings[0]
    clock.set_clock(lambda: sh(2027, 1, 4, 9).astimezone(UTC))
    assert "缺少 2027 年工作日历" in client.get("/api/health").json()["warnings"][0]

    loaded = client.post(
        "/api/admin/calendar/import",
        headers=admin,
        files={"file": ("2027.yaml", YEAR_2027.encode(), "application/yaml")},
    )
    assert loaded.status_code == 200, loaded.text
    assert client.get("/api/health").json()["warnings"] == []
    years = client.get("/api/admin/calendar", headers=admin).json()["years"]
    assert years[-1]["year"] == 2027 and years[-1]["source"] == "file" and years[-1]["loaded_by"] == "admin"
    assert years[0]["source"] == "package"
