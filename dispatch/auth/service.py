"""Passwords, tokens and the lookups behind login."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

import jwt
from pwdlib import PasswordHash
from sqlmodel import Session, select

from dispatch import clock
from dispatch.auth.models import User
from dispatch.config import get_settings
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
    known = user is not None and user.active
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
    try:
        user_id = int(_claims(token)["sub"])
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise NotAuthenticated("登录已失效，请重新登录") from exc
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotAuthenticated("登录已失效，请重新登录")
    return user


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


def _claims(token: str) -> dict[str, Any]:
    """The token's claims if this server signed it and it has not expired (raises jwt.PyJWTError)."""
    return jwt.decode(
        token, get_settings().secret_key, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
    )
