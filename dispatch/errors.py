"""The error hierarchy. One handler in app.py maps these to HTTP responses."""

from __future__ import annotations

from typing import Any


class DispatchError(Exception):
    """Base of every error the domain raises on purpose; `status` is the HTTP status it maps to."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.message}
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return body


class InvalidInput(DispatchError):
    """The request is well formed but its content is not acceptable."""

    status = 422


class NotFound(DispatchError):
    status = 404


class Forbidden(DispatchError):
    status = 403


class NotAuthenticated(DispatchError):
    status = 401


class InvalidTransition(DispatchError):
    """The ticket's state does not allow the action (or another move won the race)."""

    status = 409


class TooManyRequests(DispatchError):
    """Too many attempts (e.g. wrong passwords); `retry_after_s` says when to try again."""

    status = 429
