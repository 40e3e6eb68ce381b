"""Passwords, tokens and the lookups behind login."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import jwt
from pwdlib import PasswordHash
from sqlmodel import Session, select

from dispatch import clock
from dispatch.auth.cache import UserVersions, cached_user
from dispatch.auth.models import Role, User
from dispatch.config import get_settings
from dispatch.db import new_session
from dispatch.errors import NotAuthenticated

_hasher = PasswordHash.recommended()
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def authenticate(session: Session, *, username: str, password: str) -> User:
    """The active user with these credentials, or NotAuthenticated (same message for every failure).

    An unknown or inactive account costs one password check too, so answer times do not tell which
    usernames exist."""
    user = session.exec(select(User).where(User.username == username)).first()
    known = user is not None and user.active and user.role is not Role.SERVICE  # keys, not passwords
    hashed = user.password_hash if user is not None and known else _dummy_hash()
    if not _hasher.verify(password, hashed) or not known or user is None:
        raise NotAuthenticated("用户名或密码错误")
    return user


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("no-such-user-timing-equaliser")


def issue_token(user: User) -> str:
    """A signed access token for the user, valid for the configured lifetime."""
    settings = get_settings()
    issued = clock.now()
    claims = {"sub": str(user.id), "iat": issued, "exp": issued + timedelta(seconds=settings.token_ttl_s)}
    return jwt.encode(claims, settings.secret_key, algorithm=_ALGORITHM)


def user_from_token(session: Session, token: str) -> User:
    """The active user a valid token names, or NotAuthenticated (a token must expire: `exp` is required)."""
    user = session.get(User, _user_id(token))
    if user is None or not user.active:
        raise NotAuthenticated("登录已失效，请重新登录")
    return user


async def current_user_for(token: str, versions: UserVersions | None) -> User:
    """What user_from_token answers, without a database read when the cache may answer: the token's
    expiry is checked on every call; the account comes from dispatch.auth.cache, which sees a
    deactivation or a role change committed in any process by the next request (given the app's
    `versions`; without them, every call reads the database)."""
    user = await cached_user(_user_id(token), load=_active_user, versions=versions)
    if user is None:
        raise NotAuthenticated("登录已失效，请重新登录")
    return user


def _user_id(token: str) -> int:
    try:
        return int(_claims(token)["sub"])
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise NotAuthenticated("登录已失效，请重新登录") from exc


def _active_user(user_id: int) -> User | None:
    """The user as stored now, if active, read in a short transaction of its own (detached)."""
    with new_session() as session:
        user = session.get(User, user_id)
        session.commit()
    return user if user is not None and user.active else None


def token_expiry(token: str) -> float:
    """When a token user_from_token accepted expires (epoch seconds)."""
    return float(_claims(token)["exp"])


def token_is_valid(token: str) -> bool:
    """Signed by this server and not expired (no database: whether the account is active is the
    endpoint's check). Cheap enough to run before a request's body is read."""
    try:
        _claims(token)
    except jwt.PyJWTError:
        return False
    return True


_VERIFIED_MAX = 4096
_verified: dict[tuple[str, str], Mapping[str, Any]] = {}  # (secret, token): claims of a valid signature


def _claims(token: str) -> Mapping[str, Any]:
    """The token's claims if this server signed it and it has not expired (raises jwt.PyJWTError).

    A token whose signature was checked once (under the current secret) is not checked again; only its
    expiry is, as PyJWT checks it (`exp` must lie after now). A request checks its token twice (before
    its body is read, then in current_user), and a client sends the same token for hours."""
    secret = get_settings().secret_key
    claims = _verified.get((secret, token))
    if claims is not None:
        if claims["exp"] > time.time():
            return claims
        _verified.pop((secret, token), None)
        raise jwt.ExpiredSignatureError("Signature has expired")
    claims = MappingProxyType(
        jwt.decode(token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]})
    )
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(secret, token)] = claims
    return claims
