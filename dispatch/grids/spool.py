"""An on-disk scratch table of checked features: whole-file checks of 100,000 grids in bounded memory."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from dispatch.grids.geojson_read import FeatureRecord
from dispatch.grids.models import LEVEL_DEPTH, AreaLevel

_BATCH = 2000


class Spool:
    """Checked features on disk (a private SQLite file), queried per family; deleted on close."""

    def __init__(self, directory: Path | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="grid-import-", dir=directory)
        self._db = sqlite3.connect(Path(self._dir.name) / "spool.sqlite3")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE feature (number INTEGER, code TEXT, name TEXT, level TEXT, depth INTEGER,"
            " parent_code TEXT, kind TEXT, duty_officer TEXT, geometry TEXT)"
        )
        self._pending: list[tuple[object, ...]] = []

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def add(self, record: FeatureRecord) -> None:
        self._pending.append(
            (
                record.number,
                record.code,
                record.name,
                record.level.value,
                LEVEL_DEPTH[record.level],
                record.parent_code,
                record.kind,
                record.duty_officer,
                record.geometry,
            )
        )
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany("INSERT INTO feature VALUES (?,?,?,?,?,?,?,?,?)", self._pending)
        self._pending.clear()

    def finish(self) -> None:
        """Write what is buffered and index the table for the whole-file checks."""
        self._flush()
        self._db.execute("CREATE INDEX ix_code ON feature(code)")
        self._db.execute("CREATE INDEX ix_parent ON feature(parent_code)")
        self._db.commit()

    def level_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT level, count(*) FROM feature GROUP BY level").fetchall()
        found = dict(rows)
        return {level.value: int(found.get(level.value, 0)) for level in AreaLevel}

    def duplicates(self) -> list[tuple[str, list[int]]]:
        """Codes used by more than one feature, with their feature numbers."""
        rows = self._db.execute(
            "SELECT code, group_concat(number) FROM feature GROUP BY code HAVING count(*) > 1 ORDER BY code"
        ).fetchall()
        return [(code, sorted(int(n) for n in numbers.split(","))) for code, numbers in rows]

    def missing_parents(self) -> list[tuple[int, str, str]]:
        """(number, code, parent code) of features whose parent is not in the file."""
        return self._db.execute(
            "SELECT c.number, c.code, c.parent_code FROM feature c LEFT JOIN feature p"
            " ON p.code = c.parent_code WHERE c.parent_code IS NOT NULL AND p.code IS NULL"
            " ORDER BY c.number"
        ).fetchall()

    def wrong_parent_levels(self) -> list[tuple[int, str, str, str]]:
        """(number, code, parent code, parent level) where the parent is not exactly one level up."""
        return self._db.execute(
            "SELECT c.number, c.code, p.code, p.level FROM feature c JOIN feature p"
            " ON p.code = c.parent_code WHERE p.depth != c.depth - 1 ORDER BY c.number"
        ).fetchall()

    def officers(self) -> set[str]:
        rows = self._db.execute("SELECT DISTINCT duty_officer FROM feature WHERE duty_officer IS NOT NULL")
        return {r[0] for r in rows}

    def grids_with_officer(self) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM feature WHERE duty_officer IS NOT NULL AND level = ?",
            (AreaLevel.GRID.value,),
        ).fetchone()
        return int(row[0])

    def misplaced_officers(self) -> list[tuple[int, str]]:
        """(number, code) of non-grid features that name a duty officer."""
        return self._db.execute(
            "SELECT number, code FROM feature WHERE duty_officer IS NOT NULL AND level != ?",
            (AreaLevel.GRID.value,),
        ).fetchall()

    def families(self) -> Iterator[tuple[tuple[int, str, str | None], list[tuple[int, str, str | None]]]]:
        """Each non-grid feature (number, code, geometry) with its children, one family at a time."""
        parents = self._db.execute(
            "SELECT number, code, geometry FROM feature WHERE level != ? ORDER BY depth, code",
            (AreaLevel.GRID.value,),
        ).fetchall()
        for number, code, geometry in parents:
            children = self._db.execute(
                "SELECT number, code, geometry FROM feature WHERE parent_code = ? ORDER BY code", (code,)
            ).fetchall()
            yield (number, code, geometry), children

    def geometries(self) -> Iterator[tuple[str, str]]:
        """(code, geometry) of every feature whose geometry passed its checks."""
        yield from self._db.execute("SELECT code, geometry FROM feature WHERE geometry IS NOT NULL")

    def records(self) -> Iterator[FeatureRecord]:
        """Every feature, parents before children, in code order."""
        cursor = self._db.execute(
            "SELECT number, code, name, level, parent_code, kind, duty_officer, geometry FROM feature"
            " ORDER BY depth, code"
        )
        for number, code, name, level, parent_code, kind, officer, geometry in cursor:
            yield FeatureRecord(number, code, name, AreaLevel(level), parent_code, kind, officer, geometry)
