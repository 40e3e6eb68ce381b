"""Rule resolution: (category, place) → department; the most specific area wins, then the category."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, select

from dispatch.catalog.models import Category, RoutingRule


@dataclass(frozen=True)
class RuleMatch:
    """The winning rule, or why there is none (`conflict` lists equally specific rules that disagree)."""

    rule: RoutingRule | None
    conflict: tuple[RoutingRule, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A rule that applies at a place; lower ranks are more specific (area first, then category)."""

    rule: RoutingRule
    area_rank: int  # index in the area chain: 0 = the grid, … last = the district
    category_rank: int  # 0 = the 小类 itself, 1 = its 大类


class RuleBook:
    """All routing rules indexed by (category code, area code)."""

    def __init__(self, rules: Sequence[RoutingRule], categories: Sequence[Category]) -> None:
        self._by_key: dict[tuple[str, str], list[RoutingRule]] = {}
        for rule in rules:
            self._by_key.setdefault((rule.category_code, rule.area_code), []).append(rule)
        self.categories = {c.code: c for c in categories}

    @classmethod
    def load(cls, session: Session) -> RuleBook:
        return cls(session.exec(select(RoutingRule)).all(), session.exec(select(Category)).all())

    def category_chain(self, category_code: str) -> tuple[str, ...]:
        """The category and its 大类, most specific first."""
        chain = [category_code]
        category = self.categories.get(category_code)
        if category is not None and category.parent_code:
            chain.append(category.parent_code)
        return tuple(chain)

    def match(self, category_code: str, area_chain: Sequence[str]) -> RuleMatch:
        """The rule for a category at a place whose area chain runs grid → community → street → district."""
        for area_code in area_chain:
            for cat in self.category_chain(category_code):
                candidates = self._by_key.get((cat, area_code), [])
                departments = {r.department_id for r in candidates}
                if len(departments) == 1:
                    return RuleMatch(rule=candidates[0])
                if len(departments) > 1:
                    return RuleMatch(rule=None, conflict=tuple(candidates))
        return RuleMatch(rule=None)

    def candidates(self, category_code: str, area_chain: Sequence[str]) -> list[Candidate]:
        """Every rule for this category (or its 大类) at any area of the chain, in the order `match` tries."""
        found: list[Candidate] = []
        for area_rank, area_code in enumerate(area_chain):
            for category_rank, cat in enumerate(self.category_chain(category_code)):
                for rule in self._by_key.get((cat, area_code), []):
                    found.append(Candidate(rule, area_rank, category_rank))
        return found
