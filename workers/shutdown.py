"""SIGTERM/SIGINT for the worker and scheduler loops: remembered across Redis outages.

RQ installs its own handlers while it runs; when Redis goes away its loop can end in an exception
and our retry loop would start a fresh RQ object that never heard the signal. The flag here is set
by whichever handler receives the signal, and the retry loops check it before every retry.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopFlag:
    """Set once a stop signal arrives; `wait()` sleeps but wakes at once on the signal."""

    def __init__(self) -> None:
        self._event = threading.Event()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    def wait(self, seconds: float) -> None:
        self._event.wait(seconds)

    def install(self) -> None:
        """Handle SIGTERM and SIGINT by setting the flag (for the time between RQ runs)."""

        def handle(_signum: int, _frame: FrameType | None) -> None:
            self.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
