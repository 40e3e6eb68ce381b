"""Validation reports shared by every base-data import: each problem with its feature or line number."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"  # blocks the import
    WARNING = "warning"  # reported; the import may go on (and may fix it, e.g. ring winding)


@dataclass(frozen=True)
class Problem:
    """One finding. `where` is the 1-based feature number (GeoJSON) or line number (CSV/YAML)."""

    severity: Severity
    kind: str  # stable English identifier, e.g. "self_intersection"
    message: str  # Chinese, for the admin
    where: int | None = None
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "kind": self.kind,
            "message": self.message,
            "where": self.where,
            "code": self.code,
        }


@dataclass
class Report:
    """Every problem of one import file, plus counts; `ok` means nothing blocks the import."""

    unit: str  # "要素" (GeoJSON feature) or "行" (CSV/YAML line)
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    max_listed: int = 10_000  # a broken 100k-grid file must not produce a 100k-line report in memory
    suppressed: int = 0
    errors_suppressed: bool = False

    def add(
        self,
        severity: Severity,
        kind: str,
        message: str,
        *,
        where: int | None = None,
        code: str | None = None,
    ) -> None:
        if len(self.problems) >= self.max_listed:
            self.suppressed += 1
            if severity is Severity.ERROR:
                self.errors_suppressed = True
            return
        self.problems.append(Problem(severity, kind, message, where, code))

    def error(self, kind: str, message: str, *, where: int | None = None, code: str | None = None) -> None:
        self.add(Severity.ERROR, kind, message, where=where, code=code)

    def warning(self, kind: str, message: str, *, where: int | None = None, code: str | None = None) -> None:
        self.add(Severity.WARNING, kind, message, where=where, code=code)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors and not self.errors_suppressed

    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}

    def lines(self) -> Iterable[str]:
        """The report as Chinese text lines, errors first, each with its feature or line number."""
        ordered = sorted(self.problems, key=lambda p: (p.severity is not Severity.ERROR, p.where or 0))
        for p in ordered:
            label = "错误" if p.severity is Severity.ERROR else "警告"
            place = f"第 {p.where} {self.unit}" if p.where is not None else "整个文件"
            code = f" [{p.code}]" if p.code else ""
            yield f"{label} {place}{code}: {p.message} ({p.kind})"
        if self.suppressed:
            yield f"……另有 {self.suppressed} 条问题未列出"
        summary = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        verdict = "可以导入" if self.ok else "不能导入，未写入任何数据"
        yield f"共 {len(self.errors)} 个错误、{len(self.warnings)} 个警告；{summary}；{verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "unit": self.unit,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "suppressed": self.suppressed,
            "counts": self.counts,
            "problems": [p.to_dict() for p in self.problems],
        }
