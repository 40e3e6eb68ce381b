"""What other systems talk to: API keys, Open311, the city 12345 link, webhooks, the outbox."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from dispatch.config import get_settings


def local_iso(at: datetime | None) -> str | None:
    """ISO 8601 with the district's offset, to the second (2026-12-04T21:45:02+08:00), as other systems
    are sent it; None stays None."""
    return at.astimezone(ZoneInfo(get_settings().timezone)).isoformat(timespec="seconds") if at else None
