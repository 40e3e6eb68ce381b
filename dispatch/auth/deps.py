"""Typed dependencies that authorize: a route's signature says who may call it.

They are `async def`: on a cache hit (dispatch.auth.cache) they do no blocking work, so authorizing a
request costs no hop to the thread pool and no database connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from starlette.requests import HTTPConnection

from dispatch.audit import act_as
from dispatch.auth.models import Role, User
from dispatch.auth.service import current_user_for
from dispatch.db import SessionDep
from dispatch.errors import Forbidden, NotAuthenticated

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


async def current_user(
    connection: HTTPConnection, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    """The active account the bearer token names (401 otherwise), as committed when the request came."""
    if not token:
        raise NotAuthenticated("需要登录")
    return await current_user_for(token, getattr(connection.app.state, "user_versions", None))


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: Role) -> Callable[[User], Awaitable[User]]:
    """A dependency that lets only the given roles through (403 for everyone else)."""

    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden("当前角色无权执行此操作", role=user.role.value)
        return user

    return check


GridOfficer = Annotated[User, Depends(require_role(Role.GRID_OFFICER))]
HotlineStaff = Annotated[User, Depends(require_role(Role.HOTLINE, Role.ADMIN))]
AdminUser = Annotated[User, Depends(require_role(Role.ADMIN))]


def audited_admin(admin: AdminUser, session: SessionDep) -> User:
    """An admin, whose changes in this request's session go to the audit log."""
    act_as(session, admin.id, admin.full_name)
    return admin


Admin = Annotated[User, Depends(audited_admin)]
