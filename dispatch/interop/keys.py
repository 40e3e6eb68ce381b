"""Service accounts: API keys for machine clients (the city 12345 platform, an Open311 app, a
department's system).

An admin creates a key with a name and scopes; the key is shown once (`gdk_<prefix>_<secret>`) and
stored as the SHA-256 of its secret (a random 256-bit secret needs no slow hash), found by its prefix.
Rotating makes a new secret for the same account and revokes the old one; revoking ends it. Each key
acts as its own service account (a `User` with role `service_account`, which can never log in), so
the tickets it files name it like any reporter. Every use is logged (`api_key_use`). A key is accepted
only on the machine endpoints its scopes name, never where a person's login is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, update
from sqlmodel import Field, Session, SQLModel, col, select

from dispatch import clock
from dispatch.auth.models import Role, User
from dispatch.db import UTCDateTime
from dispatch.errors import InvalidInput, NotFound

PREFIX = "gdk"
UNUSABLE_PASSWORD = "!service-account"  # never a valid hash: a service account cannot log in


class Scope(StrEnum):
    OPEN311 = "open311"  # POST /open311/v2/requests (Open311 GeoReport v2)
    CITY12345 = "city12345"  # tickets pushed by the city 12345 platform


SCOPE_LABELS = {Scope.OPEN311: "Open311 上报", Scope.CITY12345: "市12345平台工单下发"}


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    prefix: str = Field(max_length=16, unique=True)
    secret_sha256: str = Field(max_length=64)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    user_id: int = Field(foreign_key="user.id")  # the service account it acts as
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    replaced_by_id: int | None = Field(default=None)  # rotated: the key that took its place


class ApiKeyUse(SQLModel, table=True):
    """One use of a key (accepted or refused for scope), for the audit trail."""

    __tablename__ = "api_key_use"

    id: int | None = Field(default=None, primary_key=True)
    key_id: int = Field(foreign_key="api_key.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    method: str = Field(max_length=8)
    path: str = Field(max_length=255)
    scope: str = Field(max_length=16)
    allowed: bool


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str, str]:
    """(prefix, secret, the key as shown once)."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    return prefix, secret, f"{PREFIX}_{prefix}_{secret}"


def _scopes(scopes: Sequence[str]) -> list[str]:
    known = {s.value for s in Scope}
    unknown = [s for s in scopes if s not in known]
    if unknown or not scopes:
        raise InvalidInput(
            f"未知的权限范围：{'、'.join(unknown)}" if unknown else "至少选择一个权限范围",
            field="scopes",
            known=sorted(known),
        )
    return sorted(set(scopes))


def create(session: Session, *, name: str, scopes: Sequence[str], by: User) -> tuple[ApiKey, str]:
    """A new key and its service account; the key text is returned once and never stored."""
    name = name.strip()
    if not name:
        raise InvalidInput("请填写调用方名称", field="name")
    checked = _scopes(scopes)
    prefix, secret, shown = _new_secret()
    account = User(
        username=f"svc-{prefix}",
        full_name=name[:64],
        role=Role.SERVICE,
        password_hash=UNUSABLE_PASSWORD,
    )
    session.add(account)
    session.flush()
    key = ApiKey(
        name=name,
        prefix=prefix,
        secret_sha256=_digest(secret),
        scopes=checked,
        user_id=account.id or 0,
        created_by_id=by.id,
        created_at=clock.now(),
    )
    session.add(key)
    session.flush()
    return key, shown


def get(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("API 密钥不存在")
    return key


def rotate(session: Session, *, key_id: int, by: User) -> tuple[ApiKey, str]:
    """A new secret for the same service account and scopes; the old key stops working now."""
    old = get(session, key_id)
    if old.revoked_at is not None:
        raise InvalidInput("已吊销的密钥不能轮换", field="key_id")
    prefix, secret, shown = _new_secret()
    new = ApiKey(
        name=old.name,
        prefix=prefix,
        secret_sha256=_digest(secret),
        scopes=list(old.scopes),
        user_id=old.user_id,
        created_by_id=by.id,
        created_at=clock.now(),
    )
    session.add(new)
    session.flush()
    old.revoked_at = clock.now()
    old.replaced_by_id = new.id
    session.add(old)
    return new, shown


def revoke(session: Session, *, key_id: int) -> ApiKey:
    key = get(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        session.add(key)
    return key


def authenticate(session: Session, presented: str | None) -> ApiKey | None:
    """The live key `presented` names, or None (unknown, malformed, revoked: all alike)."""
    if not presented:
        return None
    parts = presented.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    key = session.exec(select(ApiKey).where(ApiKey.prefix == parts[1])).first()
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.secret_sha256, _digest(parts[2])):
        return None
    return key


def log_use(session: Session, key: ApiKey, *, method: str, path: str, scope: Scope, allowed: bool) -> None:
    now = clock.now()
    session.add(
        ApiKeyUse(key_id=key.id or 0, at=now, method=method, path=path[:255], scope=scope, allowed=allowed)
    )
    session.execute(update(ApiKey).where(col(ApiKey.id) == key.id).values(last_used_at=now))


def account(session: Session, key: ApiKey) -> User:
    return session.exec(select(User).where(User.id == key.user_id)).one()
