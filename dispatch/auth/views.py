"""Login (OAuth2 password flow) and the caller's own profile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from dispatch.auth.deps import CurrentUser
from dispatch.auth.models import Token, User, UserRead
from dispatch.auth.service import authenticate, issue_token
from dispatch.db import SessionDep

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def login(session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    user = authenticate(session, username=form.username, password=form.password)
    return Token(access_token=issue_token(user), user=UserRead.model_validate(user))


@router.get("/me", response_model=UserRead)
def me(user: CurrentUser) -> User:
    return user
