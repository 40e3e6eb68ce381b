"""The live console websocket."""

from __future__ import annotations

import asyncio

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
    websocket: WebSocket, token: str = Query(""), since: int = Query(0, ge=0, le=INT32_MAX)
) -> None:
    """Stream ticket changes as JSON: first those after `since`, then live. Close 4401 on a bad token."""
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
    try:
        async for text in hub.replay(client):
            await websocket.send_text(text)
        while not receiver.done():
            getter = asyncio.create_task(client.queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            message = getter.result()
            if isinstance(message, str):
                await websocket.send_text(message)
            elif message.get("type") == CLOSE:  # the account was deactivated or the token expired
                await websocket.close(code=CLOSE_UNAUTHORIZED, reason="unauthorized")
                break
            else:
                await websocket.send_json(message)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.leave(client)
        WEBSOCKET_CLIENTS.dec()
        receiver.cancel()


async def _drain_incoming(websocket: WebSocket) -> None:
    """Consume (and ignore) what the client sends, so a disconnect is noticed promptly."""
    try:
        while True:
            await websocket.receive_text()
    except (WebSocketDisconnect, RuntimeError):
        return
