"""KPI tables as CSV and XLSX, with Chinese column headers for leaders' spreadsheets."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

from openpyxl import Workbook
from openpyxl.styles import Font

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


Columns = Sequence[tuple[str, str]]  # (key in the row, header)


def _cells(row: Mapping[str, object], columns: Columns) -> list[object]:
    return ["" if row.get(key) is None else row.get(key) for key, _ in columns]


def to_csv(rows: Sequence[Mapping[str, object]], *, columns: Columns = COLUMNS) -> bytes:
    """UTF-8 with BOM, so Excel opens the Chinese headers correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([label for _, label in columns])
    writer.writerows(_cells(r, columns) for r in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(
    rows: Sequence[Mapping[str, object]],
    *,
    title: str,
    columns: Columns = COLUMNS,
    caption: str = "",
    formats: Mapping[str, str] | None = None,
) -> bytes:
    """One sheet: an optional caption line, the headers (bold, frozen), one line per row; `formats`
    gives a column's number format by key (e.g. "0.0%")."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title[:31]
    if caption:
        sheet.append([caption])
        sheet.cell(row=1, column=1).font = Font(bold=True, size=13)
    sheet.append([label for _, label in columns])
    header = sheet.max_row
    for cell in sheet[header]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = f"A{header + 1}"
    for row in rows:
        sheet.append(_cells(row, columns))
    for index, (key, label) in enumerate(columns, start=1):
        letter = sheet.cell(row=header, column=index).column_letter
        sheet.column_dimensions[letter].width = max(8, 2 * len(label) + 2)
        number_format = (formats or {}).get(key)
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=header + 1, min_col=index, max_col=index):
                cell.number_format = number_format
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
