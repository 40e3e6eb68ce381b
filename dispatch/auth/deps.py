"""Typed dependencies that authorize: a route's signature says who may call it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from dispatch.auth.models import Role, User
from dispatch.auth.service import user_from_token
from dispatch.db import SessionDep
from dispatch.errors import Forbidden, NotAuthenticated

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def current_user(session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]) -> User:
    if not token:
        raise NotAuthenticated("需要登录")
    user = user_from_token(session, token)
    # End the read: the connection goes back to the pool instead of staying with the request while it
    # waits (group-committed intake waits for a committer that needs a connection of its own).
    session.commit()
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets only the given roles through (403 for everyone else)."""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden("当前角色无权执行此操作", role=user.role.value)
        return user

    return check


GridOfficer = Annotated[User, Depends(require_role(Role.GRID_OFFICER))]
HotlineStaff = Annotated[User, Depends(require_role(Role.HOTLINE, Role.ADMIN))]
Admin = Annotated[User, Depends(require_role(Role.ADMIN))]
