"""The scores table as spreadsheet lines: Chinese headers, one line per unit."""

from __future__ import annotations

from typing import Any

from dispatch.scoring.template import UnitKind


def sheet(table: dict[str, Any]) -> tuple[list[tuple[str, str]], list[dict[str, object]], dict[str, str]]:
    """(columns, lines, number formats) of a score_table() answer: 排名, 名称, 编码, each rate (as a
    percentage, 无数据 empty), each deduction's events and points, 基础分, 扣分, 得分, and the change."""
    template = table["template"]
    columns = [("rank", "排名"), ("name", "名称"), ("key", "编码")]
    if table["unit"] == UnitKind.OFFICER.value:
        columns.append(("areas", "网格"))
    formats: dict[str, str] = {}
    for rate in template["rates"]:
        key = f"rate:{rate['name']}"
        columns.append((key, f"{rate['label']}（权重 {rate['weight']}）"))
        formats[key] = "0.0%"
    for deduction in template["deductions"]:
        columns.append((f"events:{deduction['name']}", f"{deduction['label']}次数"))
        columns.append((f"points:{deduction['name']}", f"{deduction['label']}扣分"))
    columns += [
        ("base", "指标得分"),
        ("deducted", "扣分合计"),
        ("score", "得分"),
        ("previous_score", "上期得分"),
        ("score_change", "得分变化"),
        ("previous_rank", "上期排名"),
        ("rank_change", "排名变化（正数为上升）"),
        ("missing", "无数据指标"),
    ]
    labels = {rate["name"]: rate["label"] for rate in template["rates"]}
    lines = []
    for row in table["rows"]:
        line: dict[str, object] = {
            "rank": row["rank"],
            "name": row["name"],
            "key": row["key"],
            "areas": "、".join(row["areas"]),
            "base": row["base"],
            "deducted": row["deducted"],
            "score": "无数据" if row["score"] is None else row["score"],
            "previous_score": row["previous_score"],
            "score_change": row["score_change"],
            "previous_rank": row["previous_rank"],
            "rank_change": row["rank_change"],
            "missing": "、".join(labels[name] for name in row["missing_rates"]),
        }
        for name, rate in row["rates"].items():
            line[f"rate:{name}"] = rate
        for name, taken in row["deductions"].items():
            line[f"events:{name}"] = taken["count"]
            line[f"points:{name}"] = taken["points"]
        lines.append(line)
    return columns, lines, formats
