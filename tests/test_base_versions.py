"""Grid versions: a running worker process routes with a new version as soon as it is committed,
and tickets routed before keep the grid and version they were routed with."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from sqlmodel import Session

from dispatch.db import new_session
from dispatch.grids.importer import import_grid_file
from dispatch.grids.locator import current_version_id
from dispatch.grids.versions import list_versions, set_active
from dispatch.tickets.models import Ticket, TicketState
from tests.helpers import patrol
from tests.test_base_files import tiny_district, write

POINT = (113.2025, 40.055)  # inside the tiny district's grid 001, and inside the demo district


@pytest.fixture
def worker_process(database_url: str, redis_db: Redis, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "dispatch.cli", "worker"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    yield process
    process.kill()
    process.wait(timeout=20)
    print((tmp_path / "worker.log").read_text(errors="replace")[-3000:])


def wait_routed(ticket_id: int, timeout_s: float = 30) -> Ticket:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with new_session() as s:
            ticket = s.get(Ticket, ticket_id)
            if ticket is not None and ticket.state is not TicketState.NEW:
                return ticket
        time.sleep(0.2)
    raise AssertionError(f"ticket {ticket_id} was not routed by the worker process")


def test_running_worker_switches_to_a_new_version(
    session: Session, worker_process: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    old_version = current_version_id(session)
    before = wait_routed(patrol(session, lon=POINT[0], lat=POINT[1]).id or 0)
    assert before.state is TicketState.DISPATCHED and before.grid_version_id == old_version
    assert before.grid_code is not None and before.grid_code != "140213050001001"

    result = import_grid_file(session, write(tmp_path / "v2.geojson", tiny_district()), label="v2")
    session.commit()
    assert result.version_id is not None

    after = wait_routed(patrol(session, lon=POINT[0], lat=POINT[1]).id or 0)
    assert (after.grid_version_id, after.grid_code) == (result.version_id, "140213050001001")
    with new_session() as s:
        kept = s.get(Ticket, before.id)
        assert kept is not None and (kept.grid_code, kept.grid_version_id) == (before.grid_code, old_version)

    # Switching the new version off sends routing back to the old one, in the same running worker.
    set_active(session, version_id=result.version_id, active=False)
    session.commit()
    again = wait_routed(patrol(session, lon=POINT[0], lat=POINT[1]).id or 0)
    assert (again.grid_version_id, again.grid_code) == (old_version, before.grid_code)
    assert worker_process.poll() is None


def test_versions_are_listed_and_the_last_active_cannot_be_switched_off(session: Session) -> None:
    from dispatch.errors import InvalidInput

    (only,) = list_versions(session)
    assert only.current and only.active and only.grids == 1609
    with pytest.raises(InvalidInput):
        set_active(session, version_id=only.id, active=False)
