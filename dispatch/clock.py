"""The one clock. Tests move time by replacing `now` through `set_clock`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (None restores the real one)."""
    global _now
    _now = fn if fn is not None else (lambda: datetime.now(UTC))
