"""考核模板 files: YAML and CSV in, YAML and CSV out, every problem with its line.

YAML (UTF-8)::

    title: 平城区网格化管理考核办法
    department:                 # 部门; also street 街道, community 社区, officer 网格员 — all four required
      rates:                    # weights, summing to 100 (names: response_rate or 响应率 …)
        response_rate: 20
        on_time_handling_rate: 30
        closure_rate: 30
        return_rate: 20         # lower is better: scores as 1 − rate
      deductions:               # points per event, optional cap per period (超期, 督办, 不满意, 回退被驳回)
        overdue: {points: 1, cap: 10}
        urge: 0.5               # points only, no cap

CSV (one line per rate or deduction; `label` is ignored on import, written on export)::

    unit,item,weight,points,cap,label
    department,response_rate,20,,,响应率
    department,overdue,,1,10,超期

A JSON body (PUT) has the YAML's shape. Nothing is stored unless the whole file is valid.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import yaml

from dispatch.catalog.tabular import read_rows
from dispatch.grids.report import Report
from dispatch.scoring.template import (
    DEDUCTION_ALIASES,
    DEDUCTIONS,
    RATE_ALIASES,
    RATES,
    UNIT_ALIASES,
    UNIT_LABELS,
    Item,
    Problem,
    Template,
    UnitKind,
    build,
    number,
)

Parsed = tuple[Template | None, list[Problem]]
RATE_KEYS = {"rates": "rate", "权重": "rate", "指标": "rate", "deductions": "deduction", "扣分": "deduction"}
POINTS_KEYS = {"points", "扣分", "每次扣分"}
CAP_KEYS = {"cap", "上限", "扣分上限"}
TITLE_KEYS = {"title", "标题", "名称"}
SECTIONS_HINT = "department（部门）、street（街道）、community（社区）、officer（网格员）"


class Pairs(list[tuple[str, int | None, Any]]):
    """A mapping as the file wrote it: (key, line, value) in order, repeated keys kept."""


# --- reading --------------------------------------------------------------------------------------


def parse(text: str, *, fmt: str, title: str = "") -> Parsed:
    """A template from a YAML or CSV file (for CSV, `title` names it)."""
    return parse_yaml(text) if fmt == "yaml" else parse_csv(text, title=title)


def parse_yaml(text: str) -> Parsed:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [Problem(mark.line + 1 if mark else None, "file", f"YAML 格式错误：{exc}")]
    if root is None:
        return None, [Problem(None, "file", "文件为空")]
    tree = _from_node(root)
    if not isinstance(tree, Pairs):
        return None, [Problem(1, "file", f"文件应为映射：title 以及 {SECTIONS_HINT} 四部分")]
    return _parse_tree(tree)


def parse_json(body: dict[str, Any]) -> Parsed:
    """A template from a JSON body of the YAML's shape (no lines: problems name the field)."""
    tree = _from_json(body)
    assert isinstance(tree, Pairs)
    return _parse_tree(tree)


def _text(value: object) -> str:
    """Text as a file or body gave it, with what cannot be stored or answered made visible: a lone
    surrogate (YAML's and JSON's \\ud800 escapes make them) becomes "?", a NUL "\\0"."""
    return str(value).encode("utf-8", "replace").decode("utf-8").replace("\x00", "\\0")


def _from_node(node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return Pairs(
            (
                _text(key.value) if isinstance(key, yaml.ScalarNode) else "?",
                key.start_mark.line + 1,
                _from_node(value),
            )
            for key, value in node.value
        )
    if isinstance(node, yaml.SequenceNode):
        return [_from_node(item) for item in node.value]
    if node.tag == "tag:yaml.org,2002:null":
        return None
    return _text(node.value)


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        return Pairs((_text(k), None, _from_json(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if value is None:
        return value
    if isinstance(value, str):
        return _text(value)
    return json.dumps(value)  # numbers (and booleans, which then fail as numbers)


def _parse_tree(tree: Pairs) -> Parsed:
    problems: list[Problem] = []
    items: list[Item] = []
    mentioned: dict[UnitKind, int | None] = {}
    title = ""
    for key, line, value in tree:
        if key.strip() in TITLE_KEYS:
            if value is not None and not isinstance(value, str):
                problems.append(Problem(line, key, "title 须为文字"))
            title = value or ""
            continue
        kind = UNIT_ALIASES.get(key.strip())
        if kind is None:
            problems.append(Problem(line, key, f"未知的部分「{key}」；可用：title、{SECTIONS_HINT}"))
            continue
        if kind in mentioned:
            problems.append(Problem(line, key, f"「{UNIT_LABELS[kind]}」部分重复"))
            continue
        mentioned[kind] = line
        if not isinstance(value, Pairs):
            problems.append(
                Problem(line, kind.value, f"「{UNIT_LABELS[kind]}」须为含 rates、deductions 的映射")
            )
            continue
        problems += _section(kind, value, items)
    template, found = build(title if isinstance(title, str) else "", items, mentioned)
    return (template if not problems else None), problems + found


def _section(kind: UnitKind, section: Pairs, items: list[Item]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for key, line, value in section:
        part = RATE_KEYS.get(key.strip())
        path = f"{kind.value}.{key}"
        if part is None:
            problems.append(
                Problem(
                    line,
                    path,
                    f"未知的键「{key}」；「{UNIT_LABELS[kind]}」下只能有 rates（权重）、deductions（扣分）",
                )
            )
            continue
        if part in seen:
            problems.append(Problem(line, path, f"「{UNIT_LABELS[kind]}」的 {key} 重复"))
            continue
        seen.add(part)
        if value is None:
            continue
        if not isinstance(value, Pairs):
            problems.append(Problem(line, path, f"{key} 须为映射（名称: 数值）"))
            continue
        plural = "rates" if part == "rate" else "deductions"
        for name, name_line, figure in value:
            where = f"{kind.value}.{plural}.{name}"
            if part == "rate":
                if not (figure is None or isinstance(figure, str)):
                    problems.append(Problem(name_line, where, "权重须为数字"))
                    continue
                items.append(Item(kind, "rate", name, weight=figure, line=name_line, where={"name": where}))
            elif figure is None or isinstance(figure, str):
                items.append(
                    Item(kind, "deduction", name, points=figure, line=name_line, where={"name": where})
                )
            elif isinstance(figure, Pairs):
                item, found = _deduction(kind, name, name_line, where, figure)
                problems += found
                if item is not None:
                    items.append(item)
            else:
                problems.append(Problem(name_line, where, "扣分须为数字或 {points, cap}"))
    return problems


def _deduction(
    kind: UnitKind, name: str, line: int | None, where: str, figure: Pairs
) -> tuple[Item | None, list[Problem]]:
    points: str | None = None
    cap: str | None = None
    problems = []
    for key, key_line, value in figure:
        if not (value is None or isinstance(value, str)):
            problems.append(Problem(key_line, f"{where}.{key}", "须为数字"))
        elif key.strip() in POINTS_KEYS:
            points = value
        elif key.strip() in CAP_KEYS:
            cap = value
        else:
            problems.append(
                Problem(
                    key_line,
                    f"{where}.{key}",
                    f"未知的键「{key}」；扣分项只有 points（每次扣分）、cap（上限）",
                )
            )
    if problems:
        return None, problems
    fields = {"name": where, "points": f"{where}.points", "cap": f"{where}.cap"}
    return Item(kind, "deduction", name, points=points, cap=cap, line=line, where=fields), []


def parse_csv(text: str, *, title: str = "") -> Parsed:
    report = Report(unit="行")
    rows = read_rows(text, fmt="csv", required=("unit", "item"), report=report)
    problems = [Problem(p.where, "file", p.message) for p in report.errors]
    if not rows and not problems:
        problems.append(Problem(None, "file", "文件中没有记录"))
    items: list[Item] = []
    mentioned: dict[UnitKind, int | None] = {}
    columns = {"name": "item", "weight": "weight", "points": "points", "cap": "cap"}
    for row in rows:
        kind = UNIT_ALIASES.get(row.get("unit"))
        if kind is None:
            problems.append(
                Problem(row.line, "unit", f"未知的考核对象「{row.get('unit')}」；可用：{SECTIONS_HINT}")
            )
            continue
        mentioned.setdefault(kind, row.line)
        name = row.get("item")
        if name in RATE_ALIASES:
            extra = [c for c in ("points", "cap") if row.get(c)]
            if extra:
                problems.append(
                    Problem(row.line, extra[0], f"指标「{name}」只填 weight（权重），不填 points、cap")
                )
                continue
            items.append(Item(kind, "rate", name, weight=row.get("weight"), line=row.line, where=columns))
        elif name in DEDUCTION_ALIASES:
            if row.get("weight"):
                problems.append(
                    Problem(
                        row.line,
                        "weight",
                        f"扣分项「{name}」只填 points（每次扣分）和 cap（上限），不填 weight",
                    )
                )
                continue
            items.append(
                Item(
                    kind,
                    "deduction",
                    name,
                    points=row.get("points"),
                    cap=row.get("cap"),
                    line=row.line,
                    where=columns,
                )
            )
        else:
            rates = "、".join(f"{n}（{s.label}）" for n, s in RATES.items())
            deductions = "、".join(f"{n}（{s.label}）" for n, s in DEDUCTIONS.items())
            problems.append(
                Problem(
                    row.line, "item", f"未知的指标或扣分项「{name}」；指标：{rates}；扣分项：{deductions}"
                )
            )
    template, found = build(_text(title), items, mentioned)
    return (template if not problems else None), problems + found


# --- writing --------------------------------------------------------------------------------------


def to_yaml(template: Template, *, heading: str = "") -> str:
    """The template as YAML with Chinese labels in comments; reads back unchanged."""
    lines = [f"# {line}" for line in heading.splitlines()]
    lines.append(f"title: {json.dumps(template.title, ensure_ascii=False)}")
    for kind, section in template.sections.items():
        lines += [f"{kind.value}:  # {UNIT_LABELS[kind]}", "  rates:  # 权重，合计 100"]
        for name, weight in section.rates.items():
            better = "，越低越好（按 1 − 比率计分）" if RATES[name].lower_is_better else ""
            lines.append(f"    {name}: {number(weight)}  # {RATES[name].label}{better}")
        if not section.deductions:
            lines.append("  deductions: {}  # 不扣分")
            continue
        lines.append("  deductions:  # points 每次扣分，cap 每期上限（null：不设上限）")
        for name, d in section.deductions.items():
            cap = "null" if d.cap is None else number(d.cap)
            lines.append(
                f"    {name}: {{points: {number(d.points)}, cap: {cap}}}  # {DEDUCTIONS[name].label}"
            )
    return "\n".join(lines) + "\n"


def to_csv(template: Template) -> str:
    """The template as CSV (`unit,item,weight,points,cap,label`); reads back unchanged (title aside)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["unit", "item", "weight", "points", "cap", "label"])
    for kind, section in template.sections.items():
        for name, weight in section.rates.items():
            writer.writerow(
                [kind.value, name, number(weight), "", "", f"{UNIT_LABELS[kind]} · {RATES[name].label}"]
            )
        for name, d in section.deductions.items():
            cap = "" if d.cap is None else number(d.cap)
            label = f"{UNIT_LABELS[kind]} · {DEDUCTIONS[name].label}"
            writer.writerow([kind.value, name, "", number(d.points), cap, label])
    return out.getvalue()
