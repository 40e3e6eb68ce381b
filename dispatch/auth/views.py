"""Login (OAuth2 password flow) and the caller's own profile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from dispatch.auth import throttle
from dispatch.auth.deps import CurrentUser
from dispatch.auth.models import Token, User, UserRead
from dispatch.auth.service import authenticate, issue_token
from dispatch.db import SessionDep
from dispatch.errors import NotAuthenticated
from dispatch.openapi import error_responses

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=Token, responses=error_responses(401, 429))
def login(
    request: Request, session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> Token:
    """A token for the right password; 401 for a wrong one; 429 after too many wrong ones (per account
    and per client address, `GRID_LOGIN_MAX_FAILURES` within `GRID_LOGIN_LOCK_S`)."""
    address = request.client.host if request.client else "unknown"
    throttle.check(form.username, address)
    try:
        user = authenticate(session, username=form.username, password=form.password)
    except NotAuthenticated:
        throttle.failed(form.username, address)
        raise
    throttle.succeeded(form.username)
    return Token(access_token=issue_token(user), user=UserRead.model_validate(user))


@router.get("/me", response_model=UserRead)
def me(user: CurrentUser) -> User:
    return user
