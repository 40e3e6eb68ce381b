"""Typed dependencies that authorize: a route's signature says who may call it.

They are `async def`: on a cache hit (dispatch.auth.cache) they do no blocking work, so authorizing a
request costs no hop to the thread pool and no database connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from starlette.requests import HTTPConnection

from dispatch.auth.models import Role, User
from dispatch.auth.service import current_user_for
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
Admin = Annotated[User, Depends(require_role(Role.ADMIN))]
