"""考核模板: what the district scores its units by — a weight per KPI rate and points per deduction event,
one section per unit kind — and the names a file may use for each.

A template holds four sections: 部门 (department), 街道 (street), 社区 (community), 网格员 (officer). Each
section gives every rate it scores a weight (the weights sum to 100) and, optionally, deductions: points
per event with an optional cap (the most that deduction may take from one unit in one period). Rates
where lower is better (回退率, 返工率, 延期率, 重复投诉率) score as 1 − rate. dispatch.scoring.files reads and
writes templates as YAML and CSV; dispatch.scoring.service computes the scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any


class UnitKind(StrEnum):
    DEPARTMENT = "department"  # 部门 (the department holding the ticket)
    STREET = "street"  # 街道 (the street of the ticket's grid)
    COMMUNITY = "community"  # 社区 (the community of the ticket's grid)
    OFFICER = "officer"  # 网格员 (the duty officer of the ticket's grid)


UNIT_LABELS: dict[UnitKind, str] = {
    UnitKind.DEPARTMENT: "部门",
    UnitKind.STREET: "街道",
    UnitKind.COMMUNITY: "社区",
    UnitKind.OFFICER: "网格员",
}


@dataclass(frozen=True)
class RateSpec:
    label: str
    lower_is_better: bool = False
    aliases: tuple[str, ...] = ()


# The KPI rates of dispatch.stats.service, in the order the KPI table shows them.
RATES: dict[str, RateSpec] = {
    "response_rate": RateSpec("响应率"),
    "on_time_sign_rate": RateSpec("按时签收率"),
    "on_time_handling_rate": RateSpec("按期处置率"),
    "closure_rate": RateSpec("结案率"),
    "on_time_closure_rate": RateSpec("按期结案率", aliases=("按期办结率",)),
    "return_rate": RateSpec("回退率", lower_is_better=True),
    "rework_rate": RateSpec("返工率", lower_is_better=True),
    "extension_rate": RateSpec("延期率", lower_is_better=True),
    "satisfaction_rate": RateSpec("满意率"),
    "repeat_rate": RateSpec("重复投诉率", lower_is_better=True),
}


@dataclass(frozen=True)
class DeductionSpec:
    label: str
    counts: str  # which ticket log rows, for the README and the API
    aliases: tuple[str, ...] = ()


DEDUCTIONS: dict[str, DeductionSpec] = {
    "overdue": DeductionSpec("超期", "红牌超期（warn_red）", ("超期扣分",)),
    "urge": DeductionSpec("督办", "人工督办/催办（urge，由人发出；超期自动催办不计）", ("督办扣分", "催办")),
    "unsatisfied": DeductionSpec("不满意", "回访不满意（callback: unsatisfied）", ("回访不满意",)),
    "overruled_return": DeductionSpec(
        "回退被驳回", "不当回退：中心驳回部门的回退（overrule）", ("驳回回退", "回退驳回", "不当回退")
    ),
}

UNIT_ALIASES: dict[str, UnitKind] = {
    **{kind.value: kind for kind in UnitKind},
    **{label: kind for kind, label in UNIT_LABELS.items()},
    "grid_officer": UnitKind.OFFICER,
}
RATE_ALIASES: dict[str, str] = {
    alias: name for name, spec in RATES.items() for alias in (name, spec.label, *spec.aliases)
}
DEDUCTION_ALIASES: dict[str, str] = {
    alias: name for name, spec in DEDUCTIONS.items() for alias in (name, spec.label, *spec.aliases)
}
MAX_NUMBER = Decimal(100)


@dataclass(frozen=True)
class Deduction:
    points: Decimal  # per event
    cap: Decimal | None = None  # the most this deduction takes from one unit in a period; None: no cap


@dataclass(frozen=True)
class Section:
    """How one unit kind is scored: rate name → weight (summing to 100), deduction name → its points."""

    rates: dict[str, Decimal]
    deductions: dict[str, Deduction] = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    title: str
    sections: dict[UnitKind, Section]

    def to_json(self) -> dict[str, Any]:
        """The template as stored (and as PUT takes it): {title, <unit>: {rates, deductions}}."""
        body: dict[str, Any] = {"title": self.title}
        for kind, section in self.sections.items():
            body[kind.value] = {
                "rates": {name: number(w) for name, w in section.rates.items()},
                "deductions": {
                    name: {"points": number(d.points), "cap": None if d.cap is None else number(d.cap)}
                    for name, d in section.deductions.items()
                },
            }
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Template:
        """A stored template (already validated when it was saved)."""
        sections = {}
        for kind in UnitKind:
            raw = body[kind.value]
            sections[kind] = Section(
                rates={name: Decimal(str(w)) for name, w in raw["rates"].items()},
                deductions={
                    name: Deduction(
                        Decimal(str(d["points"])), None if d["cap"] is None else Decimal(str(d["cap"]))
                    )
                    for name, d in raw["deductions"].items()
                },
            )
        return cls(title=str(body.get("title") or ""), sections=sections)

    def describe(self, kind: UnitKind) -> dict[str, Any]:
        """One section with its labels, as the scores answer shows it."""
        section = self.sections[kind]
        return {
            "rates": [
                {
                    "name": name,
                    "label": RATES[name].label,
                    "weight": number(weight),
                    "lower_is_better": RATES[name].lower_is_better,
                }
                for name, weight in section.rates.items()
            ],
            "deductions": [
                {
                    "name": name,
                    "label": DEDUCTIONS[name].label,
                    "counts": DEDUCTIONS[name].counts,
                    "points": number(d.points),
                    "cap": None if d.cap is None else number(d.cap),
                }
                for name, d in section.deductions.items()
            ],
        }


def number(value: Decimal) -> int | float:
    """A weight or point count for JSON: an integer when it is one."""
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass(frozen=True)
class Problem:
    """One reason a template file is refused: its line (None: the file as a whole), the field at fault
    (a YAML path such as `department.rates.response_rate`, or a CSV column) and a message in Chinese."""

    line: int | None
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Item:
    """One line of a template, as a file gave it (names and numbers not checked yet)."""

    unit: UnitKind
    kind: str  # "rate" | "deduction"
    name: str
    weight: str | None = None
    points: str | None = None
    cap: str | None = None
    line: int | None = None
    # The field a problem names, per part ("name", "weight", "points", "cap"): a YAML path or a CSV column.
    where: dict[str, str] = field(default_factory=dict)

    def field_of(self, part: str = "name") -> str:
        return self.where.get(part) or self.where.get("name", "")


def parse_number(
    text: str | None, *, what: str, required: bool, places: int = 2
) -> tuple[Decimal | None, str]:
    """(value, "") or (None, the problem): a number 0–100 with at most `places` decimals."""
    if text is None or not str(text).strip():
        return None, (f"缺少{what}" if required else "")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        return None, f"{what}不是数字：{text!r}"
    if not value.is_finite():
        return None, f"{what}不是数字：{text!r}"
    if value < 0:
        return None, f"{what}不能为负数：{text}"
    if value > MAX_NUMBER:
        return None, f"{what}不能超过 100：{text}"
    if value != value.quantize(Decimal(1).scaleb(-places)):
        return None, f"{what}最多保留 {places} 位小数：{text}"
    return value, ""


def build(
    title: str, items: list[Item], mentioned: dict[UnitKind, int | None]
) -> tuple[Template | None, list[Problem]]:
    """Check every item and assemble the template; any problem and there is no template.

    `mentioned` holds the sections the file has (with the line naming each): a section the file lacks
    is a problem, as are unknown names, bad or negative numbers, a name given twice in one section
    (also under two of its names, e.g. response_rate and 响应率) and weights not summing to 100."""
    problems: list[Problem] = []
    rates: dict[UnitKind, dict[str, Decimal]] = {kind: {} for kind in UnitKind}
    deductions: dict[UnitKind, dict[str, Deduction]] = {kind: {} for kind in UnitKind}
    first_line: dict[tuple[UnitKind, str, str], int | None] = {}
    last_rate_line: dict[UnitKind, int | None] = {}
    broken: set[UnitKind] = set()
    for item in items:
        label = UNIT_LABELS[item.unit]
        if item.kind == "rate":
            name = RATE_ALIASES.get(item.name.strip())
            if name is None:
                known = "、".join(f"{n}（{s.label}）" for n, s in RATES.items())
                problems.append(
                    Problem(item.line, item.field_of(), f"未知的指标「{item.name}」；可用：{known}")
                )
                broken.add(item.unit)
                continue
        else:
            name = DEDUCTION_ALIASES.get(item.name.strip())
            if name is None:
                known = "、".join(f"{n}（{s.label}）" for n, s in DEDUCTIONS.items())
                problems.append(
                    Problem(item.line, item.field_of(), f"未知的扣分项「{item.name}」；可用：{known}")
                )
                continue
        where = (item.unit, item.kind, name)
        if where in first_line:
            earlier = first_line[where]
            said = f"第 {earlier} 行" if earlier else "前面"
            what = RATES[name].label if item.kind == "rate" else DEDUCTIONS[name].label
            problems.append(Problem(item.line, item.field_of(), f"{label}的「{what}」重复，{said}已给出"))
            broken.add(item.unit)
            continue
        first_line[where] = item.line
        if item.kind == "rate":
            last_rate_line[item.unit] = item.line
            weight, problem = parse_number(
                item.weight, what=f"{label}「{RATES[name].label}」的权重", required=True
            )
            if weight is None:
                problems.append(Problem(item.line, item.field_of("weight"), problem))
                broken.add(item.unit)
                continue
            rates[item.unit][name] = weight
        else:
            what = f"{label}「{DEDUCTIONS[name].label}」"
            points, problem = parse_number(item.points, what=f"{what}的每次扣分", required=True)
            if points is None:
                problems.append(Problem(item.line, item.field_of("points"), problem))
                continue
            cap, problem = parse_number(item.cap, what=f"{what}的扣分上限", required=False)
            if problem:
                problems.append(Problem(item.line, item.field_of("cap"), problem))
                continue
            deductions[item.unit][name] = Deduction(points, cap)
    for kind in UnitKind:
        label = UNIT_LABELS[kind]
        if kind not in mentioned:
            problems.append(
                Problem(
                    None,
                    kind.value,
                    f"缺少「{label}」（{kind.value}）部分：模板须含部门、街道、社区、网格员四部分",
                )
            )
            continue
        if kind in broken:
            continue
        total = sum(rates[kind].values(), Decimal(0))
        if not rates[kind]:
            problems.append(
                Problem(mentioned[kind], f"{kind.value}.rates", f"「{label}」部分没有给出任何指标权重")
            )
        elif total != 100:
            line = last_rate_line.get(kind, mentioned[kind])
            problems.append(
                Problem(
                    line, f"{kind.value}.rates", f"「{label}」的权重合计为 {total.normalize():f}，应为 100"
                )
            )
    if problems:
        return None, problems
    order = {name: i for i, name in enumerate(RATES)}
    d_order = {name: i for i, name in enumerate(DEDUCTIONS)}
    sections = {
        kind: Section(
            rates=dict(sorted(rates[kind].items(), key=lambda kv: order[kv[0]])),
            deductions=dict(sorted(deductions[kind].items(), key=lambda kv: d_order[kv[0]])),
        )
        for kind in UnitKind
    }
    return Template(title=title.strip()[:128], sections=sections), []
