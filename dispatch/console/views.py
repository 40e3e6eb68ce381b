"""The live console websocket."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from dispatch.auth.models import User
from dispatch.auth.service import token_expiry, user_from_token
from dispatch.console.hub import CLOSE, ConsoleHub
from dispatch.db import new_session
from dispatch.errors import NotAuthenticated
from dispatch.inputs import INT32_MAX
from dispatch.observability import WEBSOCKET_CLIENTS

router = APIRouter(tags=["console"])

CLOSE_UNAUTHORIZED = 4401


def _user(token: str) -> tuple[User, float]:
    """The token's active user and when the token expires (epoch seconds)."""
    with new_session() as session:
        user = user_from_token(session, token)
    try:
        return user, token_expiry(token)
    except jwt.PyJWTError as exc:  # expired between the two reads
        raise NotAuthenticated("登录已失效，请重新登录") from exc


@router.websocket("/api/console/ws")
async def console_ws(
    websocket: WebSocket,
    token: str = Query(""),
    since: int = Query(0, ge=0, le=INT32_MAX),
    batch: bool = Query(False),
) -> None:
    """Stream ticket changes as JSON: first those after `since`, then live. Close 4401 on a bad token.

    With `batch=1` the changes waiting for this console go out together, as one JSON array per frame
    (what the product's own pages ask for: a busy centre sends far fewer frames); without it, one
    change per frame. Control messages (`reset`) always travel alone.
    """
    await websocket.accept()
    try:
        user, expires_at = await asyncio.to_thread(_user, token)
    except NotAuthenticated:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="unauthorized")
        return
    hub: ConsoleHub = websocket.app.state.console_hub
    client = await hub.join(user, since, expires_at)
    WEBSOCKET_CLIENTS.inc()
    receiver = asyncio.create_task(_drain_incoming(websocket))
    receiver.add_done_callback(lambda _: client.queue.put_nowait({"type": GONE}))
    try:
        replayed: list[str | dict[str, Any]] = []
        async for text in hub.replay(client):
            replayed.append(text)
            if len(replayed) >= FRAME_MAX:
                await _send(websocket, replayed, batch=batch)
                replayed = []
        await _send(websocket, replayed, batch=batch)
        while True:
            waiting = [await client.queue.get()]
            while not client.queue.empty() and len(waiting) < FRAME_MAX:
                waiting.append(client.queue.get_nowait())
            if not await _send(websocket, waiting, batch=batch):
                break
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.leave(client)
        WEBSOCKET_CLIENTS.dec()
        receiver.cancel()


GONE = "gone"  # queued when the client disconnected: stop sending
FRAME_MAX = 500  # changes in one frame at most


async def _send(websocket: WebSocket, messages: list[str | dict[str, Any]], *, batch: bool) -> bool:
    """Send the messages in order; False once the socket is done (closed by us or by the client)."""
    texts: list[str] = []
    for message in [*messages, None]:
        if isinstance(message, str):
            texts.append(message)
            continue
        if texts and batch:
            await websocket.send_text("[" + ",".join(texts) + "]")
        else:
            for text in texts:
                await websocket.send_text(text)
        texts = []
        if message is None:
            return True
        if message.get("type") == GONE:
            return False
        if message.get("type") == CLOSE:  # the account was deactivated or the token expired
            await websocket.close(code=CLOSE_UNAUTHORIZED, reason="unauthorized")
            return False
        await websocket.send_json(message)
    return True


async def _drain_incoming(websocket: WebSocket) -> None:
    """Consume (and ignore) what the client sends, so a disconnect is noticed promptly."""
    try:
        while True:
            await websocket.receive_text()
    except (WebSocketDisconnect, RuntimeError):
        return
