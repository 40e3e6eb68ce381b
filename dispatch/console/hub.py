"""Fan-out of ticket changes to the websocket consoles of this API process.

The hub keeps a cursor (the highest log sequence it has delivered). Redis pub/sub wakes it when a
worker or another API process commits a change; a short poll covers lost wake-ups and Redis outages.
A client joins at the cursor under a short lock, so the live stream gives it everything after that;
what it missed before (between its `since` and that cursor) is then read in pages outside the lock
while its live messages wait in its queue. So nothing is missed or sent twice, and a console catching
up on a long backlog never holds up delivery to the others. A client too far behind gets a `reset`
(reload the list) instead of a replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from sqlmodel import col, select

from dispatch.auth.models import User
from dispatch.config import get_settings
from dispatch.console.publisher import CHANNEL
from dispatch.console.service import Change, changes_after
from dispatch.db import new_session
from dispatch.tickets.service import last_seq

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 2.0
BATCH = 500
REPLAY_PAGE = 200
MAX_BACKLOG = 5_000  # further behind than this, reloading the list is cheaper than a replay
MAX_QUEUE = 50_000
CLOSE = "close"  # queued for a client whose login ended: the websocket closes with 4401, sending nothing


@dataclass(eq=False)
class Client:
    user: User
    # JSON text of a change (encoded once for every console), or a control message (reset, close)
    queue: asyncio.Queue[str | dict[str, Any]] = field(default_factory=asyncio.Queue)
    expires_at: float = float("inf")  # the token's `exp`: the client is closed then
    missed: tuple[int, int] | None = None  # (after, upto]: log rows to replay before the live queue
    seen: int = 0  # the client already has every row up to here (its `since` may be ahead of the hub)
    dropped: bool = False  # closed, or told to reload: a replay in progress stops


def _read_changes(after_seq: int, upto_seq: int | None, limit: int = BATCH) -> list[Change]:
    with new_session() as session:
        return changes_after(session, after_seq=after_seq, upto_seq=upto_seq, limit=limit)


def _active_users(ids: set[int]) -> dict[int, User]:
    """These users as they are now, the deactivated ones left out."""
    with new_session() as session:
        users = session.exec(select(User).where(col(User.id).in_(ids), col(User.active).is_(True))).all()
        return {u.id: u for u in users if u.id is not None}


def _read_last_seq() -> int:
    with new_session() as session:
        return last_seq(session)


class ConsoleHub:
    def __init__(self) -> None:
        self.cursor = 0
        self.clients: set[Client] = set()
        self._lock = asyncio.Lock()
        self._replaying = asyncio.Semaphore(1)  # one catch-up read at a time leaves the live pump room
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.cursor = await asyncio.to_thread(_read_last_seq)
        self._tasks = [asyncio.create_task(self._pump_loop()), asyncio.create_task(self._listen())]

    async def stop(self) -> None:
        """Cancel the background tasks; give up waiting after a few seconds (shutdown must not hang)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    async def join(self, user: User, since: int, expires_at: float = float("inf")) -> Client:
        """Register a client at the cursor; what it missed since `since` is left for `replay`.

        The lock is held only to read the cursor and add the client, never across a database read."""
        client = Client(user, seen=since, expires_at=expires_at)
        if since > self.cursor and since > await asyncio.to_thread(_read_last_seq):
            # Ahead of the log itself (the database was restored from a backup): reload, then live.
            client.seen = 0
            client.queue.put_nowait({"type": "reset", "seq": self.cursor})
            since = self.cursor
        async with self._lock:
            if self.cursor - since > MAX_BACKLOG:
                client.queue.put_nowait({"type": "reset", "seq": self.cursor})
            elif since < self.cursor:
                client.missed = (since, self.cursor)
            self.clients.add(client)
        return client

    async def replay(self, client: Client) -> AsyncIterator[str]:
        """The messages a joining client missed, oldest first, read a page at a time; live ones wait."""
        if client.missed is None:
            return
        after, upto = client.missed
        while after < upto and not client.dropped:
            async with self._replaying:
                changes = await asyncio.to_thread(_read_changes, after, upto, REPLAY_PAGE)
            if not changes:
                break
            for change in changes:
                if change.visible_to(client.user):
                    yield change.text_for(client.user)
            after = changes[-1].seq
        client.missed = None

    def leave(self, client: Client) -> None:
        self.clients.discard(client)

    async def _pump_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_INTERVAL_S)
            self._wake.clear()
            try:
                await self._pump()
            except Exception:
                log.exception("console pump failed; retrying")
                await asyncio.sleep(POLL_INTERVAL_S)

    async def _pump(self) -> None:
        while True:
            async with self._lock:
                self._close_expired()
                if not self.clients:  # nobody to deliver to: move the cursor, read no changes
                    self.cursor = max(self.cursor, await asyncio.to_thread(_read_last_seq))
                    return
                changes = await asyncio.to_thread(_read_changes, self.cursor, None)
                if not changes:
                    return
                await self._refresh_users()
                for client in list(self.clients):
                    self._offer(client, changes)
                self.cursor = changes[-1].seq
            if len(changes) < BATCH:
                return

    def _close_expired(self) -> None:
        now = time.time()
        for client in [c for c in self.clients if c.expires_at <= now]:
            self._close(client, "登录已过期，请重新登录")

    async def _refresh_users(self) -> None:
        """Before delivering, the clients' users as they are now: a deactivated account is closed at
        once, and a changed role or department decides what its console sees from here on."""
        ids = {c.user.id for c in self.clients if c.user.id is not None}
        if not ids:
            return
        current = await asyncio.to_thread(_active_users, ids)
        for client in list(self.clients):
            user = current.get(client.user.id or 0)
            if user is None:
                self._close(client, "账号已停用，请重新登录")
            else:
                client.user = user

    def _close(self, client: Client, reason: str) -> None:
        """Stop delivering to this client; its websocket closes with 4401 (log in again)."""
        self.clients.discard(client)
        client.dropped = True
        client.queue.put_nowait({"type": CLOSE, "reason": reason})

    def _offer(self, client: Client, changes: list[Change]) -> None:
        for change in changes:
            if change.seq > client.seen and change.visible_to(client.user):
                client.queue.put_nowait(change.text_for(client.user))
        if client.queue.qsize() > MAX_QUEUE:
            # Too far behind to catch up by messages: forget them and have it reload, then go on live.
            log.warning("console client of %s too slow; telling it to reload", client.user.username)
            while not client.queue.empty():
                client.queue.get_nowait()
            client.dropped = True  # a replay in progress stops: the reload covers it
            client.queue.put_nowait({"type": "reset", "seq": changes[-1].seq})

    async def _listen(self) -> None:
        while True:
            redis = AsyncRedis.from_url(get_settings().effective_redis_url, socket_connect_timeout=1.0)
            try:
                async with redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self._wake.set()  # catch up on anything published while not subscribed
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._wake.set()
            except (RedisError, OSError):
                log.info("console pub/sub unavailable; polling the database until Redis is back")
            finally:
                await redis.aclose()
            await asyncio.sleep(POLL_INTERVAL_S)
