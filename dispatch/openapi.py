"""The OpenAPI document tells the truth about errors: one error body (`ErrorBody`) for every 4xx answer the
app gives, and per operation the status codes it can really answer.

Codes that follow from how a route is built are added here, in one place: 422 everywhere (any
parameter can be invalid, and a NUL byte is refused even in a parameter the route ignores), 400 and 413
where a body is read, 401 where a bearer token is read, 403 behind a role check, 404 where the path
names an object.
Codes that follow from what a route does (409 for a workflow move, 404 for an id in the query, 429 for
login) are declared beside the route with `error_responses(...)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

from dispatch.auth.deps import require_role

ERROR_SCHEMA_REF = "#/components/schemas/ErrorBody"

ERROR_DESCRIPTIONS = {
    400: "请求体无法解析（不是合法的 JSON 或表单）",
    401: "未登录或登录已失效（带 WWW-Authenticate: Bearer）",
    403: "当前角色无权执行此操作",
    404: "对象不存在或无权查看",
    409: "工单当前状态不允许此操作，或已被他人更新",
    413: "请求体过大",
    422: "输入有误：`detail` 概述，`field` 指出第一个有误的字段，`errors` 逐项列出",
    429: "尝试过于频繁，请稍后再试",
}


class ValidationIssue(BaseModel):
    """One problem of a refused input."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int] = Field(description="where: `body`/`query`/`path`, then the field's path")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer: `detail` is always one readable sentence. Some errors add fields (e.g.
    `candidates` for an ambiguous address, `open_parts` for 结案 with open co-handling parts,
    `retry_after_s` for too many logins)."""

    model_config = ConfigDict(extra="allow")

    detail: str
    field: str | None = Field(default=None, description="the field at fault, when there is one")
    errors: list[ValidationIssue] | None = Field(
        default=None, description="every problem, for an invalid input (422)"
    )


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: the error answers it gives beyond those its shape implies."""
    return {
        code: {
            "description": ERROR_DESCRIPTIONS[code],
            "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
        }
        for code in codes
    }


def install(app: FastAPI) -> None:
    """Make `app.openapi()` (and /openapi.json) declare the error answers."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        document_errors(schema, app.routes)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_errors(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Add `ErrorBody` and each operation's error codes to a generated schema (idempotent)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(body_schema.pop("$defs", {}))
    components["ErrorBody"] = body_schema
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        path_item = schema["paths"].get(route.path_format or "", {})
        for method in route.methods or ():
            operation = path_item.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code, response in error_responses(*implied_codes(route)).items():
                if str(code) == "422" or str(code) not in responses:
                    responses[str(code)] = response
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in _text(schema):
            components.pop(unused, None)


def implied_codes(route: RouteContext) -> list[int]:
    """The error codes a route (as included in the app) answers because of how it is built."""
    codes = [422]
    if route.body_field is not None:
        codes += [400, 413]
    if any(isinstance(dependency.call, SecurityBase) for dependency in _dependencies(route.dependant)):
        codes.append(401)  # it reads a bearer token (e.g. via current_user), so it can refuse one
    if any(_is_role_check(dependency) for dependency in _dependencies(route.dependant)):
        codes.append(403)
    if route.dependant.path_params or any(d.path_params for d in _dependencies(route.dependant)):
        codes.append(404)
    return sorted(codes)


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def _is_role_check(dependant: Dependant) -> bool:
    """A dependency made by `require_role(...)` (403 for every other role)."""
    qualname = getattr(dependant.call, "__qualname__", "")
    return isinstance(qualname, str) and qualname.startswith(f"{require_role.__qualname__}.<locals>.")


def _text(schema: dict[str, Any]) -> str:
    return json.dumps(schema)
