"""Reading CSV and YAML import files as rows with their line numbers, for whole-file validation."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from dispatch.grids.report import Report


@dataclass(frozen=True)
class Row:
    """One record of an import file: its 1-based line number and its fields as stripped strings."""

    line: int
    fields: dict[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


def read_rows(text: str, *, fmt: str, required: Iterable[str], report: Report) -> list[Row]:
    """The file's records (CSV with a header line, or a YAML list of mappings); header problems reported."""
    rows = _read_yaml(text, report) if fmt == "yaml" else _read_csv(text, report)
    needed = set(required)
    if rows is not None and rows:
        columns = set().union(*(r.fields for r in rows)) if fmt == "yaml" else set(rows[0].fields)
        missing = sorted(needed - columns)
        if missing:
            report.error("missing_columns", f"缺少列：{', '.join(missing)}", where=1)
            return []
    return rows or []


def _read_csv(text: str, report: Report) -> list[Row] | None:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a BOM
    rows: list[Row] = []
    try:
        for record in reader:
            if None in record:
                report.error("extra_fields", "字段数多于表头", where=reader.line_num)
            fields = {k.strip(): (v or "").strip() for k, v in record.items() if isinstance(k, str)}
            if any(fields.values()):
                rows.append(Row(reader.line_num, fields))
    except csv.Error as exc:
        report.error("malformed_csv", f"CSV 格式错误：{exc}", where=reader.line_num)
        return None
    if reader.fieldnames is None:
        report.error("empty_file", "文件为空")
    return rows


class _LineLoader(yaml.SafeLoader):
    """Safe YAML loading that remembers each mapping's line number under the key "__line__"."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _read_yaml(text: str, report: Report) -> list[Row] | None:
    try:
        data = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        report.error("malformed_yaml", f"YAML 格式错误：{exc}", where=mark.line + 1 if mark else None)
        return None
    if not isinstance(data, list):
        report.error("not_a_list", "YAML 顶层应为列表（每项一条记录）", where=1)
        return None
    rows: list[Row] = []
    for item in data:
        if not isinstance(item, dict):
            report.error("not_a_mapping", "列表项应为键值映射", where=None)
            continue
        line = int(item.pop("__line__", 0))
        rows.append(Row(line, {str(k): "" if v is None else str(v).strip() for k, v in item.items()}))
    return rows


def write_rows(records: list[dict[str, Any]], columns: list[str], *, fmt: str) -> str:
    """Records as CSV (header line first) or as a YAML list, columns in the given order."""
    if fmt == "yaml":
        ordered = [{c: r.get(c) for c in columns} for r in records]
        return yaml.safe_dump(ordered, allow_unicode=True, sort_keys=False)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({c: "" if record.get(c) is None else record.get(c) for c in columns})
    return out.getvalue()
