"""12345 request types have time limits of their own (咨询 is answered the same working day), set in the
catalog per request type × category × urgency; the most specific row wins, the routing explanation says
which limit applied, and patrol reports keep their category's limits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session, delete, select

from dispatch import clock
from dispatch.catalog.models import LimitUnit, TimeLimit, Urgency
from dispatch.events.models import RequestType, Source
from dispatch.tickets.deadlines import AppliedLimit, applied_limit
from dispatch.tickets.models import Action, Ticket, TicketLog
from dispatch.tickets.tasks import route_tickets
from tests.helpers import grids_in, hotline, inside, patrol

SH = ZoneInfo("Asia/Shanghai")


def probe(request_type: RequestType | None, category: str, urgency: Urgency = Urgency.NORMAL) -> Ticket:
    now = clock.now()
    return Ticket(
        source=Source.HOTLINE if request_type else Source.PATROL,
        request_type=request_type,
        category_code=category,
        urgency=urgency,
        description="",
        created_at=now,
        updated_at=now,
    )


def limit_of(session: Session, ticket: Ticket) -> AppliedLimit:
    limit = applied_limit(session, ticket)
    assert limit is not None
    return limit


def test_the_most_specific_limit_wins(session: Session) -> None:
    session.execute(delete(TimeLimit))
    complaint, noise, garbage = RequestType.COMPLAINT, "06028", "06010"  # 噪声扰民 3 WD, 暴露垃圾 4 WH
    limit = limit_of(session, probe(complaint, noise))
    assert (limit.amount, limit.unit) == (3, LimitUnit.WORKING_DAYS)
    assert limit.describe() == "类别 06028 噪声扰民 · 一般：3 工作日"

    def add(category: str, amount: int) -> None:
        session.add(
            TimeLimit(
                request_type=complaint,
                category_code=category,
                urgency=Urgency.NORMAL,
                amount=amount,
                unit=LimitUnit.WORKING_DAYS,
            )
        )
        session.flush()

    add("*", 7)
    assert limit_of(session, probe(complaint, noise)).describe() == "投诉 · 全部类别 · 一般：7 工作日"
    add("06", 6)
    assert limit_of(session, probe(complaint, noise)).describe() == "投诉 · 06 市容环境 · 一般：6 工作日"
    add(noise, 5)
    most_specific = limit_of(session, probe(complaint, noise))
    assert most_specific.describe() == "投诉 · 06028 噪声扰民 · 一般：5 工作日"
    assert limit_of(session, probe(complaint, garbage)).amount == 6  # its 大类
    # Other request types, other urgencies and patrol reports are untouched by these rows.
    assert limit_of(session, probe(RequestType.REPORT, noise)).amount == 3
    urgent = limit_of(session, probe(complaint, noise, Urgency.URGENT))
    assert (urgent.amount, urgent.unit) == (4, LimitUnit.WORKING_HOURS)
    assert limit_of(session, probe(None, noise)).amount == 3


def test_a_consultation_call_is_due_the_same_working_day(session: Session, redis_db: Redis) -> None:
    # Demo catalog: 咨询 gets 1 working day for every category; 投诉 follows the category (噪声扰民 3 WD).
    clock.set_clock(lambda: datetime(2026, 12, 8, 9, 0, tzinfo=SH).astimezone(UTC))  # Tuesday 09:00
    lon, lat = inside(grids_in("140213050")[0])
    consult = hotline(session, call_id="CALL-LIMIT-1", request_type="consult", lon=lon, lat=lat)
    complaint = hotline(session, call_id="CALL-LIMIT-2", request_type="complaint", lon=lon, lat=lat)
    officer = patrol(session, lon=lon, lat=lat, category="06028")
    route_tickets([consult.id or 0, complaint.id or 0, officer.id or 0])
    session.expire_all()

    # 1 working day (450 min) from Tue 09:00: 180 + 240 = 420 → 30 left → Wed 08:30 + 30 = 09:00.
    def deadline(ticket: Ticket) -> datetime | None:
        fresh = session.get(Ticket, ticket.id)
        assert fresh is not None
        return fresh.deadline_at

    assert deadline(consult) == datetime(2026, 12, 9, 9, 0, tzinfo=SH)
    # 3 working days from Tue 09:00 → Fri 09:00.
    assert deadline(complaint) == datetime(2026, 12, 11, 9, 0, tzinfo=SH)
    assert deadline(officer) == datetime(2026, 12, 11, 9, 0, tzinfo=SH)
    route_note = session.exec(
        select(TicketLog.note).where(TicketLog.ticket_id == consult.id, TicketLog.action == Action.ROUTE)
    ).one()
    assert route_note == "处置时限 咨询 · 全部类别 · 一般：1 工作日"


def test_limits_import_validates_the_whole_file_and_round_trips(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    admin = login("admin")

    def upload(text: str, dry_run: bool = False) -> dict[str, object]:
        answer = client.post(
            f"/api/admin/catalog/limits/import?dry_run={str(dry_run).lower()}",
            headers=admin,
            files={"file": ("limits.csv", text.encode(), "text/csv")},
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    bad = upload(
        "request_type,category_code,urgency,amount,unit,note\n"
        "咨询,*,一般,1,工作日,\n"
        "询问,06,normal,1,working_days,\n"
        "help,99999,urgent,2,working_hours,\n"
        "help,06,urgent,0,working_hours,\n"
        "suggestion,06,normal,300,working_days,\n"
        "consult,*,normal,2,working_days,\n"
        "report,06,fast,2,weeks,\n"
    )
    problems = bad["problems"]
    assert isinstance(problems, list)
    kinds = sorted(str(p["kind"]) for p in problems)
    assert bad["ok"] is False
    assert kinds == [
        "bad_amount",
        "bad_amount",
        "bad_request_type",
        "bad_unit",
        "bad_urgency",
        "duplicate",
        "unknown_category",
    ]
    before = client.get("/api/admin/catalog/limits/export", headers=admin).text
    assert "consult,*,normal,1,working_days" in before  # the demo rows, untouched by the bad file

    good = (
        "request_type,category_code,urgency,amount,unit,note\n"
        "咨询,*,一般,1,工作日,当日答复\n"
        "投诉,06028,紧急,3,工作小时,\n"
    )
    assert upload(good, dry_run=True)["ok"] is True
    assert client.get("/api/admin/catalog/limits/export", headers=admin).text == before
    assert upload(good)["ok"] is True
    exported = client.get("/api/admin/catalog/limits/export", headers=admin).text
    assert exported.splitlines() == [
        "request_type,category_code,urgency,amount,unit,note",
        "complaint,06028,urgent,3,working_hours,",
        "consult,*,normal,1,working_days,当日答复",
    ]
    assert upload(exported)["ok"] is True
    assert client.get("/api/admin/catalog/limits/export", headers=admin).text == exported


def test_the_explanation_names_the_limit_that_applied(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    lon, lat = inside(grids_in("140213050")[0])
    query = f"/api/routing/explain?category_code=06028&lon={lon}&lat={lat}"
    consult = client.get(f"{query}&request_type=consult", headers=login("dispatcher")).json()
    assert consult["time_limit"] == "咨询 · 全部类别 · 一般：1 工作日"
    assert "时限 咨询 · 全部类别 · 一般：1 工作日" in consult["summary"]
    plain = client.get(query, headers=login("dispatcher")).json()
    assert plain["time_limit"] == "类别 06028 噪声扰民 · 一般：3 工作日"
