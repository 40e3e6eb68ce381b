"""Exports of ticket lists and their timelines, CSV or XLSX, for any filter of the list API, streamed:
tickets are read a slice at a time by id (keyset), so a million rows never sit in memory together.
CSV goes out as it is written; XLSX is written row by row (openpyxl's write-only mode) into a temporary
file, which is then sent and removed. Phones are masked for everyone but hotline staff, as everywhere.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlmodel import Session, col, select

from dispatch.auth.models import Role, User
from dispatch.catalog.models import URGENCY_LABELS, Category, Department
from dispatch.config import get_settings
from dispatch.events.models import REQUEST_TYPE_LABELS
from dispatch.grids.service import names_for
from dispatch.tickets.models import (
    TICKET_STATE_LABELS,
    Ticket,
    TicketLog,
    TicketQuery,
)
from dispatch.tickets.service import mask_phone, matching

SLICE = 2000
SOURCE_LABELS = {
    "patrol": "网格员上报",
    "hotline": "12345热线",
    "open311": "Open311",
    "city12345": "市12345平台",
}
WARNING_LABELS = {"none": "", "yellow": "临期", "red": "超期", "escalated": "超期已上报"}
SATISFACTION_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
ACTION_LABELS = {
    "intake": "受理",
    "route": "自动派遣",
    "route_manual": "转人工派遣",
    "dispatch": "人工派遣",
    "redispatch": "改派",
    "overrule": "驳回回退",
    "reject": "不予受理",
    "sign": "签收",
    "return": "回退",
    "request_extension": "申请延期",
    "approve_extension": "批准延期",
    "refuse_extension": "驳回延期",
    "suspend": "挂账",
    "resume": "恢复办理",
    "feedback": "反馈",
    "verify_pass": "核查通过",
    "verify_fail": "核查不通过",
    "callback": "回访",
    "reopen": "重办",
    "urge": "督办",
    "ack_urge": "确认督办",
    "escalate": "上报",
    "hand_down": "下派",
    "assign": "指定承办人",
    "verify_request": "派发现场核查",
    "verify_answer": "现场核查回复",
    "verify_warn": "核查超时预警",
    "self_resolve": "自行处置",
    "add_assist": "增加协办",
    "assist_sign": "协办签收",
    "assist_feedback": "协办反馈",
    "merge": "合并重复件",
    "absorb": "并入重复件",
    "warn_sign": "签收超时预警",
    "warn_yellow": "黄牌预警",
    "warn_red": "红牌超期",
    "assist_warn_sign": "协办签收超时预警",
    "assist_warn_yellow": "协办黄牌预警",
    "assist_warn_red": "协办红牌超期",
    "assist_close": "关闭协办",
}

TICKET_HEADERS = (
    "工单号",
    "来源",
    "诉求类型",
    "类别编码",
    "类别",
    "状态",
    "紧急程度",
    "问题描述",
    "地址",
    "网格编码",
    "网格",
    "责任部门",
    "主责中心",
    "受理时间",
    "派遣时间",
    "办理期限",
    "结案时间",
    "预警",
    "回退次数",
    "返工次数",
    "满意度",
    "来电人",
    "联系电话",
)
TIMELINE_HEADERS = ("工单号", "时间", "操作人", "操作", "原状态", "新状态", "备注")


class Names:
    """The names the rows need, read once per export (categories, departments) or per slice (grids)."""

    def __init__(self, session: Session) -> None:
        self.categories = dict(session.exec(select(Category.code, Category.name)).all())
        self.departments = {i: n for i, n in session.exec(select(Department.id, Department.name)) if i}
        self.zone = ZoneInfo(get_settings().timezone)

    def when(self, at: Any) -> str:
        return at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S") if at else ""


def _slices(session: Session, viewer: User, query: TicketQuery) -> Iterator[list[Ticket]]:
    """Every matching ticket, by id, a slice at a time (each slice loaded, used, let go)."""
    conditions = matching(viewer, query)
    after = 0
    while True:
        found = list(
            session.exec(
                select(Ticket)
                .where(*conditions, col(Ticket.id) > after)
                .order_by(col(Ticket.id))
                .limit(SLICE)
            )
        )
        if not found:
            return
        yield found
        after = found[-1].id or 0
        session.expunge_all()


def ticket_rows(session: Session, viewer: User, query: TicketQuery) -> Iterator[list[Any]]:
    names = Names(session)
    show_phone = viewer.role is Role.HOTLINE
    for tickets in _slices(session, viewer, query):
        grids = names_for(session, {t.grid_code for t in tickets if t.grid_code})
        for t in tickets:
            yield [
                t.number or "",
                SOURCE_LABELS.get(t.source.value, t.source.value),
                REQUEST_TYPE_LABELS.get(t.request_type, "") if t.request_type else "",
                t.category_code,
                names.categories.get(t.category_code, ""),
                TICKET_STATE_LABELS[t.state],
                URGENCY_LABELS.get(t.urgency, t.urgency.value),
                t.description,
                t.address,
                t.grid_code or "",
                grids.get(t.grid_code or "", ""),
                names.departments.get(t.department_id or 0, ""),
                names.departments.get(t.centre_id or 0, "区指挥中心"),
                names.when(t.created_at),
                names.when(t.dispatched_at),
                names.when(t.deadline_at),
                names.when(t.closed_at),
                WARNING_LABELS.get(t.warning_level.value, ""),
                t.return_count,
                t.rework_count,
                SATISFACTION_LABELS.get(t.satisfaction.value, "") if t.satisfaction else "",
                t.caller_name or "",
                (t.caller_phone if show_phone else mask_phone(t.caller_phone)) or "",
            ]


def timeline_rows(session: Session, viewer: User, query: TicketQuery) -> Iterator[list[Any]]:
    names = Names(session)
    for tickets in _slices(session, viewer, query):
        numbers = {t.id: t.number or "" for t in tickets}
        entries = session.exec(
            select(TicketLog)
            .where(col(TicketLog.ticket_id).in_(list(numbers)))
            .order_by(col(TicketLog.ticket_id), col(TicketLog.id))
        )
        for e in entries:
            yield [
                numbers[e.ticket_id],
                names.when(e.at),
                e.actor_name,
                ACTION_LABELS.get(e.action.value, e.action.value),
                TICKET_STATE_LABELS[e.from_state] if e.from_state else "",
                TICKET_STATE_LABELS[e.to_state],
                e.note,
            ]


Rows = Callable[[Session, User, TicketQuery], Iterator[list[Any]]]


def csv_stream(
    open_session: Callable[[], Session], rows: Rows, headers: Sequence[str], viewer: User, query: TicketQuery
) -> Iterator[bytes]:
    """UTF-8 with a BOM (Excel reads the Chinese headers), a few hundred rows per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff".encode()
    writer.writerow(headers)
    with open_session() as session:
        for n, row in enumerate(rows(session, viewer, query), start=1):
            writer.writerow(row)
            if n % 500 == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue().encode()


def xlsx_file(
    open_session: Callable[[], Session],
    rows: Rows,
    headers: Sequence[str],
    viewer: User,
    query: TicketQuery,
    *,
    title: str,
) -> str:
    """Write the workbook to a temporary file (the caller sends and removes it); its path."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append(list(headers))
    with open_session() as session:
        for row in rows(session, viewer, query):
            sheet.append(row)
    handle, path = tempfile.mkstemp(prefix="grid-export-", suffix=".xlsx")
    os.close(handle)
    workbook.save(path)
    return path


def file_chunks(path: str, chunk: int = 1 << 16) -> Iterator[bytes]:
    """The file's bytes, then the file removed."""
    try:
        with open(path, "rb") as source:
            while data := source.read(chunk):
                yield data
    finally:
        os.unlink(path)
