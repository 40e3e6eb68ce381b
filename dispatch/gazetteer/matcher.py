"""Address matching: normalised text against the gazetteer with rapidfuzz; a confident point or candidates."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import func
from sqlmodel import Session, col, select

from dispatch.gazetteer.models import AddressKind, AddressPoint
from dispatch.gazetteer.normalize import house_number, normalize
from dispatch.grids.locator import current_version_id
from dispatch.grids.models import Area, AreaLevel

CONFIDENT_SCORE = 90.0  # a match this good needs only a small lead over the next place
CONFIDENT_MARGIN = 5.0
FAIR_SCORE = 70.0  # a weaker match (a typo) needs a clear lead
FAIR_MARGIN = 15.0
SAME_PLACE_M = 60.0  # candidates closer than this count as one place
MAX_CANDIDATES = 5


@dataclass(frozen=True)
class AddressMatch:
    """A gazetteer point matched to the text, with a 0–100 score; `exact` is False for a nearest number."""

    point_id: int
    text: str
    kind: str
    lon: float
    lat: float
    grid_code: str | None
    score: float
    exact: bool = True


def display_text(point: AddressPoint) -> str:
    """The address as people write it: 御河北路12号, 安和园小区, 安和园小区3号楼, 大同站."""
    if point.kind is AddressKind.ROAD_NUMBER:
        return f"{point.road}{point.number}号"
    if point.kind is AddressKind.BUILDING:
        return f"{point.compound}{point.building}号楼"
    if point.kind is AddressKind.COMPOUND:
        return point.compound
    return point.name


def drop_prefixes(session: Session) -> tuple[str, ...]:
    """Names to strip from the front of an address: the district and its 街道 (current grid version)."""
    version_id = current_version_id(session)
    names = session.exec(
        select(Area.name).where(
            Area.version_id == version_id, col(Area.level).in_([AreaLevel.DISTRICT, AreaLevel.STREET])
        )
    ).all()
    extra = [n.removesuffix("区") for n in names if n.endswith("区") and len(n) > 2]
    return tuple(sorted({*names, *extra}, key=len, reverse=True))


class AddressIndex:
    """The gazetteer in memory: roads with their house numbers, and named places with their aliases."""

    def __init__(self, points: list[AddressPoint], drop: tuple[str, ...]) -> None:
        self.drop = drop
        self.points = {p.id or 0: p for p in points}
        self.roads: dict[str, dict[int, AddressPoint]] = {}
        self.names: list[str] = []
        self.owners: list[int] = []
        for p in points:
            if p.kind is AddressKind.ROAD_NUMBER:
                self.roads.setdefault(normalize(p.road), {})[int(p.number)] = p
                continue
            for alias in (p.text, *p.aliases.split("|")):
                if alias.strip():
                    self.names.append(normalize(alias))  # whole: 御河街道办事处 must stay itself
                    self.owners.append(p.id or 0)
        self.road_names = list(self.roads)

    def locate(self, text: str) -> tuple[AddressMatch | None, list[AddressMatch]]:
        """The confident match (or None) and the best candidates, best first."""
        query = normalize(text, drop=self.drop)
        if not query:
            return None, []
        found: dict[int, AddressMatch] = {}
        house = house_number(query)
        if house is not None:
            for road, score, _ in process.extract(
                house.road, self.road_names, scorer=fuzz.ratio, limit=4, score_cutoff=60
            ):
                match = self._number_on(road, house.number, float(score))
                found[match.point_id] = match
        named = [
            (score, k)
            for q in {query, normalize(text)}  # with and without the administrative prefixes
            for _, score, k in process.extract(q, self.names, scorer=fuzz.WRatio, limit=8, score_cutoff=60)
        ]
        for score, k in named:
            point = self.points[self.owners[k]]
            if house is not None and point.kind is not AddressKind.LANDMARK:
                score *= 0.8  # a road and number was given: named places only as a fallback
            if point.id not in found or found[point.id or 0].score < score:
                found[point.id or 0] = _match(point, float(score))
        ranked = sorted(found.values(), key=lambda m: (-m.score, m.point_id))[:MAX_CANDIDATES]
        return _confident(ranked), ranked

    def _number_on(self, road: str, number: int, score: float) -> AddressMatch:
        numbers = self.roads[road]
        if number in numbers:
            return _match(numbers[number], score)
        nearest = min(numbers, key=lambda n: (n % 2 != number % 2, abs(n - number)))
        return _match(numbers[nearest], score * 0.9, exact=False)


def _match(point: AddressPoint, score: float, *, exact: bool = True) -> AddressMatch:
    return AddressMatch(
        point.id or 0,
        point.text,
        point.kind.value,
        point.lon,
        point.lat,
        point.grid_code,
        round(score, 1),
        exact,
    )


def _distance_m(a: AddressMatch, b: AddressMatch) -> float:
    dx = (a.lon - b.lon) * 111_320.0 * math.cos(math.radians(a.lat))
    return math.hypot(dx, (a.lat - b.lat) * 110_540.0)


def _confident(ranked: list[AddressMatch]) -> AddressMatch | None:
    if not ranked or not ranked[0].exact:
        return None
    top = ranked[0]
    rivals = [m for m in ranked[1:] if _distance_m(top, m) > SAME_PLACE_M]
    margin = top.score - rivals[0].score if rivals else 100.0
    if (top.score >= CONFIDENT_SCORE and margin >= CONFIDENT_MARGIN) or (
        top.score >= FAIR_SCORE and margin >= FAIR_MARGIN
    ):
        return top
    return None


_cache: dict[str, tuple[tuple[int, int, int | None], AddressIndex]] = {}
_lock = threading.Lock()


def address_index(session: Session) -> AddressIndex:
    """This process's index, rebuilt when the gazetteer or the grid version changes."""
    count, max_id = session.exec(
        select(func.count(), func.max(AddressPoint.id)).select_from(AddressPoint)
    ).one()
    key = (int(count), int(max_id or 0), current_version_id(session))
    cached = _cache.get("index")
    if cached is not None and cached[0] == key:
        return cached[1]
    with _lock:
        points = list(session.exec(select(AddressPoint).order_by(col(AddressPoint.id))).all())
        for point in points:  # the index outlives this session: a rollback must not expire its points
            session.expunge(point)
        index = AddressIndex(points, drop_prefixes(session))
        _cache["index"] = (key, index)
        return index


def locate_address(session: Session, text: str) -> tuple[AddressMatch | None, list[AddressMatch]]:
    """Place an address text: (the point if the match is confident, else None; the best candidates).

    Intake and routing call this for hotline calls that give an address but no coordinates; a None
    point means the dispatcher picks from the candidates (or the list is empty: nothing similar).
    """
    return address_index(session).locate(text)
