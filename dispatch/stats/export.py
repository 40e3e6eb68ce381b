"""KPI tables as CSV and XLSX, with Chinese column headers for leaders' spreadsheets."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook

COLUMNS: tuple[tuple[str, str], ...] = (
    ("key", "编码"),
    ("name", "名称"),
    ("total", "受理量"),
    ("dispatched", "派遣量"),
    ("closed", "结案量"),
    ("response_rate", "响应率"),
    ("on_time_sign_rate", "按时签收率"),
    ("on_time_handling_rate", "按期处置率"),
    ("closure_rate", "结案率"),
    ("on_time_closure_rate", "按期结案率"),
    ("return_rate", "回退率"),
    ("rework_rate", "返工率"),
    ("extension_rate", "延期率"),
    ("satisfaction_rate", "满意率"),
    ("repeat_rate", "重复投诉率"),
)


def _cells(row: dict[str, object]) -> list[object]:
    return ["" if row.get(key) is None else row.get(key) for key, _ in COLUMNS]


def to_csv(rows: list[dict[str, object]]) -> bytes:
    """UTF-8 with BOM, so Excel opens the Chinese headers correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([label for _, label in COLUMNS])
    writer.writerows(_cells(r) for r in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(rows: list[dict[str, object]], *, title: str) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append([label for _, label in COLUMNS])
    for row in rows:
        sheet.append(_cells(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
