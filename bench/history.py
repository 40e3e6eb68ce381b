"""A year of historical tickets for the KPI run, COPY-loaded into the benchmark's database.

Each ticket follows one of a few histories (closed on time, late, returned and redispatched, reworked,
extended, self-resolved, merged, dispatched by hand and reopened, rejected, still open) in the demo
district's departments, grids and categories, created at a random moment of a year (Beijing time). The
tickets are COPY-loaded into `ticket`; their KPI rollup rows are computed with the product's own fold
(dispatch.stats.rollup.shares over each history, applied per ticket with numpy) and COPY-loaded into
`kpi_rollup`. Their log rows are not written (24 M tickets would need ~130 M rows): a year's KPI query
over whole days reads only the rollup, which is what is measured.

Run alone: .venv/bin/python -m bench.history --tickets 1000000 DATABASE_URL
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from dispatch.events.models import Source
from dispatch.stats.rollup import COUNTERS, shares
from dispatch.stats.service import GroupBy
from dispatch.tickets.models import Action, Ticket, TicketLog, TicketState

D1, D2 = 900_001, 900_002  # stand-ins for the ticket's first and second department
GRID = "999999999888777"  # stand-in grid code: street 999999999, community 999999999888
CATEGORY = "C"


@dataclass(frozen=True)
class Story:
    name: str
    weight: float
    state: TicketState
    department: int | None  # the department holding the ticket at the end
    rows: tuple[tuple[Action, dict[str, Any]], ...]


def _closing(on_time: bool = True) -> tuple[tuple[Action, dict[str, Any]], ...]:
    return (
        (Action.SIGN, {"on_time": on_time}),
        (Action.FEEDBACK, {"on_time": on_time}),
        (Action.VERIFY_PASS, {"on_time": on_time}),
    )


ROUTE = (Action.ROUTE, {"grid_code": GRID, "department_id": D1})
STORIES: tuple[Story, ...] = (
    Story(
        "closed on time, satisfied",
        0.38,
        TicketState.CLOSED,
        D1,
        (ROUTE, *_closing(), (Action.CALLBACK, {"satisfaction": "satisfied"})),
    ),
    Story("closed late", 0.10, TicketState.CLOSED, D1, (ROUTE, *_closing(on_time=False))),
    Story("still being handled", 0.06, TicketState.SIGNED, D1, (ROUTE, (Action.SIGN, {"on_time": True}))),
    Story(
        "returned, redispatched, closed",
        0.07,
        TicketState.CLOSED,
        D2,
        (
            ROUTE,
            (Action.RETURN, {"department_id": D1}),
            (Action.REDISPATCH, {"department_id": D2, "from_department_id": D1}),
            *_closing(),
        ),
    ),
    Story(
        "reworked once",
        0.06,
        TicketState.CLOSED,
        D1,
        (
            ROUTE,
            (Action.SIGN, {"on_time": True}),
            (Action.FEEDBACK, {"on_time": True}),
            (Action.VERIFY_FAIL, {}),
            (Action.FEEDBACK, {"on_time": True}),
            (Action.VERIFY_PASS, {"on_time": True}),
        ),
    ),
    Story(
        "extended",
        0.05,
        TicketState.CLOSED,
        D1,
        (
            ROUTE,
            (Action.SIGN, {"on_time": True}),
            (Action.REQUEST_EXTENSION, {}),
            (Action.APPROVE_EXTENSION, {}),
            (Action.FEEDBACK, {"on_time": True}),
            (Action.VERIFY_PASS, {"on_time": True}),
        ),
    ),
    Story("self-resolved", 0.10, TicketState.CLOSED, None, ((Action.SELF_RESOLVE, {}),)),
    Story("merged", 0.04, TicketState.MERGED, D1, (ROUTE, (Action.MERGE, {}))),
    Story(
        "dispatched by hand, unsatisfied, reopened",
        0.09,
        TicketState.CLOSED,
        D1,
        (
            (Action.ROUTE_MANUAL, {"grid_code": GRID, "department_id": None}),
            (Action.DISPATCH, {"department_id": D1, "grid_code": GRID}),
            *_closing(),
            (Action.CALLBACK, {"satisfaction": "unsatisfied"}),
            (Action.REOPEN, {}),
            *_closing(),
        ),
    ),
    Story(
        "rejected",
        0.05,
        TicketState.REJECTED,
        None,
        ((Action.ROUTE_MANUAL, {"grid_code": None, "department_id": None}), (Action.REJECT, {})),
    ),
)


def story_shares(story: Story) -> dict[str, dict[str, int]]:
    """What a ticket following `story` adds to the rollup, with the stand-in keys (the product's fold)."""
    at = datetime(2025, 1, 1, tzinfo=UTC)
    ticket = Ticket(
        id=1,
        source=Source.PATROL,
        category_code=CATEGORY,
        description="",
        state=story.state,
        department_id=story.department,
        grid_code=GRID if story.name != "rejected" else None,
        created_at=at,
        updated_at=at,
    )
    entries = [
        TicketLog(id=n, ticket_id=1, at=at, actor_name="", action=action, to_state=story.state, data=data)
        for n, (action, data) in enumerate([(Action.INTAKE, {}), *story.rows], start=1)
    ]
    return shares(ticket, entries)


@dataclass
class District:
    departments: list[int]
    grids: list[str]
    categories: list[str]

    @classmethod
    def read(cls, conn: psycopg.Connection[Any]) -> District:
        grids = [
            code
            for (code,) in conn.execute(
                "SELECT a.code FROM area a JOIN grid_version v ON v.id = a.version_id "
                "WHERE a.level = 'grid' AND v.active ORDER BY a.code"
            )
        ]
        departments = [i for (i,) in conn.execute("SELECT id FROM department ORDER BY id")]
        categories = [c for (c,) in conn.execute("SELECT code FROM category ORDER BY code")]
        return cls(departments, grids, categories)


def draw(n: int, district: District, year: int, seed: int) -> dict[str, np.ndarray]:
    """Per ticket: day of the year, second of the day, story, departments, grid, category."""
    rng = np.random.default_rng(seed)
    days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
    weights = np.array([s.weight for s in STORIES])
    first = rng.integers(0, len(district.departments), n)
    second = (first + rng.integers(1, len(district.departments), n)) % len(district.departments)
    return {
        "day": rng.integers(0, days, n).astype(np.int32),
        "second": rng.integers(0, 86400, n).astype(np.int32),
        "story": rng.choice(len(STORIES), n, p=weights / weights.sum()).astype(np.int8),
        "dept1": first.astype(np.int32),
        "dept2": second.astype(np.int32),
        "grid": rng.integers(0, len(district.grids), n).astype(np.int32),
        "category": rng.integers(0, len(district.categories), n).astype(np.int32),
    }


def rollup_rows(drawn: dict[str, np.ndarray], district: District, year: int) -> Iterator[tuple[Any, ...]]:
    """kpi_rollup rows (dimension, day, key, *COUNTERS) for the drawn tickets."""
    streets = sorted({g[:9] for g in district.grids})
    communities = sorted({g[:12] for g in district.grids})
    grid_street = np.array([streets.index(g[:9]) for g in district.grids])
    grid_community = np.array([communities.index(g[:12]) for g in district.grids])
    departments = [str(d) for d in district.departments]
    days = int(drawn["day"].max()) + 1
    # For each dimension: the names of its keys, and per stand-in key the per-ticket key index.
    keys_of = {
        GroupBy.DEPARTMENT: (departments, {str(D1): drawn["dept1"], str(D2): drawn["dept2"]}),
        GroupBy.STREET: (streets, {GRID[:9]: grid_street[drawn["grid"]]}),
        GroupBy.COMMUNITY: (communities, {GRID[:12]: grid_community[drawn["grid"]]}),
        GroupBy.GRID: (district.grids, {GRID: drawn["grid"]}),
        GroupBy.CATEGORY: (district.categories, {CATEGORY: drawn["category"]}),
        GroupBy.DISTRICT: (["all"], {"all": np.zeros_like(drawn["grid"])}),
    }
    bit_vectors = np.array([[1] + [b >> i & 1 for i in range(len(COUNTERS) - 1)] for b in range(1 << 14)])
    for dimension, (names, stand_ins) in keys_of.items():
        labels = [*names, ""]  # the last: a holding without a key (未派遣, 未定位)
        counts = np.zeros((days, len(labels), len(COUNTERS)), dtype=np.int64)
        for index, story in enumerate(STORIES):
            mine = drawn["story"] == index
            for stand_in, bits in story_shares(story)[dimension.value].items():
                key = stand_ins[stand_in][mine] if stand_in else np.full(int(mine.sum()), len(names))
                flat = np.bincount(drawn["day"][mine] * len(labels) + key, minlength=days * len(labels))
                counts += flat.reshape(days, len(labels))[:, :, None] * bit_vectors[bits][None, None, :]
        first = date(year, 1, 1)
        for day, key in zip(*np.nonzero(counts[:, :, 0]), strict=True):
            yield (dimension.value, first + timedelta(days=int(day)), labels[key], *counts[day, key].tolist())


TICKET_COLUMNS = (
    "source",
    "category_code",
    "urgency",
    "description",
    "address",
    "number",
    "state",
    "grid_code",
    "department_id",
    "created_at",
    "updated_at",
    "closed_at",
    "deadline_provisional",
    "warning_level",
    "sign_warned",
    "escalation_level",
    "repeat_count",
    "rework_count",
    "return_count",
    "lock_version",
)


def ticket_lines(drawn: dict[str, np.ndarray], district: District, year: int, start: int, stop: int) -> bytes:
    """Tickets [start, stop) as COPY text lines."""
    epoch = datetime(year, 1, 1, tzinfo=UTC).timestamp() - 8 * 3600  # Beijing midnight of 1 January
    created = epoch + drawn["day"][start:stop].astype(np.int64) * 86400 + drawn["second"][start:stop]
    out = io.StringIO()
    grids, categories, departments = district.grids, district.categories, district.departments
    for n, (at, story, d1, d2, grid, category) in enumerate(
        zip(
            created.tolist(),
            drawn["story"][start:stop].tolist(),
            drawn["dept1"][start:stop].tolist(),
            drawn["dept2"][start:stop].tolist(),
            drawn["grid"][start:stop].tolist(),
            drawn["category"][start:stop].tolist(),
            strict=True,
        ),
        start=start,
    ):
        s = STORIES[story]
        made = datetime.fromtimestamp(at, UTC).isoformat()
        department = {D1: departments[d1], D2: departments[d2], None: None}[s.department]
        closed = made if s.state is TicketState.CLOSED else "\\N"
        out.write(
            f"patrol\t{categories[category]}\tnormal\t历史工单\t\tH{year}{n:09d}\t{s.state.value}\t"
            f"{grids[grid] if s.name != 'rejected' else chr(92) + 'N'}\t"
            f"{department if department is not None else chr(92) + 'N'}\t{made}\t{made}\t{closed}\t"
            "f\tnone\tf\tgrid\t0\t0\t0\t1\n"
        )
    return out.getvalue().encode()


def load(
    database_url: str, *, tickets: int, year: int = 2025, seed: int = 2025, say: Any = print
) -> dict[str, Any]:
    """COPY `tickets` historical tickets of `year` and their rollup rows into the database; figures."""
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        district = District.read(conn)
        drawn = draw(tickets, district, year, seed)
        say(
            f"history: {tickets:,} tickets drawn over {len(district.grids)} grids, "
            f"{len(district.departments)} departments"
        )
        copy_started = time.perf_counter()
        # A bulk load as a DBA does it: foreign keys not checked row by row (the rows come from the
        # database's own ids), secondary indexes dropped and built again once the rows are in.
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '1GB'")
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'ticket' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY ticket ({', '.join(TICKET_COLUMNS)}) FROM STDIN") as copy,
        ):
            for start in range(0, tickets, 200_000):
                copy.write(ticket_lines(drawn, district, year, start, min(tickets, start + 200_000)))
                if start and start % 2_000_000 == 0:
                    say(f"history: {start:,} tickets copied")
        index_started = time.perf_counter()
        for _, definition in indexes:
            conn.execute(definition)
        index_s = time.perf_counter() - index_started
        tickets_s = time.perf_counter() - copy_started
        rollup_started = time.perf_counter()
        rows = 0
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY kpi_rollup (dimension, day, key, {', '.join(COUNTERS)}) FROM STDIN") as copy,
        ):
            for row in rollup_rows(drawn, district, year):
                copy.write_row(row)
                rows += 1
        conn.commit()
        rollup_s = time.perf_counter() - rollup_started
        conn.autocommit = True
        analyze_started = time.perf_counter()
        conn.execute("VACUUM ANALYZE ticket")
        conn.execute("VACUUM ANALYZE kpi_rollup")
        analyze_s = time.perf_counter() - analyze_started
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('ticket'))").fetchone()
    return {
        "tickets": tickets,
        "year": year,
        "rollup_rows": rows,
        "copy_tickets_s": round(tickets_s, 1),
        "of_which_indexes_s": round(index_s, 1),
        "rollup_s": round(rollup_s, 1),
        "vacuum_analyze_s": round(analyze_s, 1),
        "total_s": round(time.perf_counter() - started, 1),
        "ticket_table_size": size[0] if size else None,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__.split("\n")[0])
    parser.add_argument(
        "database_url", help="a migrated and seeded database, e.g. postgresql://postgres@127.0.0.1/x"
    )
    parser.add_argument("--tickets", type=int, default=24_000_000)
    parser.add_argument("--year", type=int, default=2025)
    args = parser.parse_args(argv)
    print(
        load(args.database_url, tickets=args.tickets, year=args.year, say=lambda t: print(t, file=sys.stderr))
    )


if __name__ == "__main__":
    main()
