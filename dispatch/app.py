"""create_app(): routers, error handlers, the console hub, and the web pages from web/."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import DataError
from sqlalchemy.orm.exc import StaleDataError

from dispatch import apidocs, audit_views, observability, openapi
from dispatch.auth import views as auth_views
from dispatch.auth.cache import UserVersions
from dispatch.auth.service import token_is_valid
from dispatch.catalog import admin_views as catalog_admin_views
from dispatch.catalog import explain_views
from dispatch.catalog import views as catalog_views
from dispatch.config import get_settings
from dispatch.console import views as console_views
from dispatch.console.hub import ConsoleHub
from dispatch.db import new_session
from dispatch.errors import DispatchError
from dispatch.events import views as event_views
from dispatch.gazetteer import views as gazetteer_views
from dispatch.grids import admin_views as grid_admin_views
from dispatch.grids import views as grid_views
from dispatch.inputs import refuse_nul_bytes
from dispatch.interop import city, key_views, open311
from dispatch.observability import RequestContext, redact
from dispatch.people import views as people_views
from dispatch.places import views as place_views
from dispatch.queues import queue_stats, redis_connection
from dispatch.scoring import admin_views as scoring_admin_views
from dispatch.scoring import views as scoring_views
from dispatch.security import AuthenticateFirst, BodyLimit, SecurityHeaders
from dispatch.stats import views as stats_views
from dispatch.tickets import action_views, export_views, verification_views
from dispatch.tickets import views as ticket_views
from dispatch.tickets.tasks import routing_backlog
from dispatch.workcal import views as calendar_views
from dispatch.workcal.service import calendar_status, local_today

log = logging.getLogger(__name__)


class RedactTokens(logging.Filter):
    """Keep bearer tokens out of the logs: the console's websocket carries one in `?token=`, and uvicorn
    writes every request line (HTTP and websocket) to its logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg, record.args = redact(message), ()
        return True


def _redact_server_logs() -> None:
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


WEB_DIR = Path(__file__).resolve().parent.parent / "web"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    hub = ConsoleHub()
    await hub.start()
    app.state.console_hub = hub
    versions = UserVersions(get_settings().effective_redis_url)  # dispatch.auth.cache
    app.state.user_versions = versions
    yield
    await hub.stop()
    await versions.close()


def create_app() -> FastAPI:
    _redact_server_logs()
    app = FastAPI(
        title="Grid Dispatch 网格调度",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # dispatch.apidocs serves /docs and /redoc from local files, not a CDN
        redoc_url=None,
        dependencies=[Depends(refuse_nul_bytes)],  # PostgreSQL text cannot hold \x00: 422 everywhere
    )
    openapi.install(app)

    @app.exception_handler(DispatchError)
    async def _domain_error(_: Request, exc: DispatchError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(status_code=exc.status, content=exc.to_dict(), headers=headers)

    @app.exception_handler(StaleDataError)
    async def _lost_race(_: Request, exc: StaleDataError) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": "工单已被他人更新，请刷新后重试"})

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        """Safety net: a value the database refused (number out of range, bad text) is the caller's 422;
        the input types (dispatch.inputs) should have refused it first, so it is logged."""
        log.warning("database refused a value: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        detail = "输入超出数据库可存储的范围（数值过大或含不可存储的字符）"
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming the field: `text`, `items.2.lon`, a query or path parameter's name, or `body` when
        the body as a whole is wrong (not a JSON object, not JSON at all, missing)."""
        errors = jsonable_encoder(exc.errors(), exclude={"input", "url", "ctx"})

        def field(error: dict[str, Any]) -> str:
            where, *path = error["loc"] or ["body"]
            if where not in ("body", "query", "path", "header", "cookie"):
                path = [where, *path]
            if not path or error.get("type") == "json_invalid":  # loc is ["body", <character offset>]
                return str(where)
            return ".".join(str(p) for p in path)

        fields = [field(e) for e in errors]
        summary = "; ".join(f"{f}: {e['msg']}" for f, e in zip(fields, errors, strict=True))
        return JSONResponse(
            status_code=422,
            content={
                "detail": f"输入有误 — {summary}",
                "field": fields[0] if fields else None,
                "errors": errors,
            },
        )

    @app.get("/api/health", tags=["health"])
    def health() -> dict[str, Any]:
        """Liveness plus whether the database and Redis answer (Redis down is degraded, not dead), and
        `warnings` an admin must act on (a missing work calendar: this year, or next year from 1 Dec), and per
        queue the jobs waiting, the oldest one's age, retries pending and failed jobs, and the tickets
        waiting to be routed (one routing job takes a whole batch of them)."""
        status: dict[str, Any] = {"status": "ok", "database": "ok", "redis": "ok", "warnings": []}
        try:
            with new_session() as session:
                session.execute(text("SELECT 1"))
                status["routing_backlog"] = routing_backlog(session)
            status["calendar"] = calendar_status(local_today())
            status["warnings"].extend(status["calendar"]["warnings"])
        except Exception as exc:  # report, never crash the health check
            status.update(status="error", database=str(exc)[:200])
        try:
            redis_connection().ping()
            status["queues"] = queue_stats()
        except RedisError as exc:
            status.update(redis=f"unreachable: {exc}"[:200])
            if status["status"] == "ok":
                status["status"] = "degraded"
        return status

    for module in (
        auth_views,
        event_views,
        ticket_views,
        action_views,
        verification_views,
        open311,
        city,
        key_views,
        grid_views,
        catalog_views,
        console_views,
        stats_views,
        scoring_views,
        grid_admin_views,
        explain_views,
        catalog_admin_views,
        scoring_admin_views,
        gazetteer_views,
        people_views,
        place_views,
        calendar_views,
        observability,
        apidocs,
    ):
        app.include_router(module.router)
    app.include_router(key_views.deliveries)
    app.include_router(key_views.hooks)
    app.include_router(audit_views.router)
    app.include_router(export_views.router)
    if WEB_DIR.is_dir():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    app.add_middleware(AuthenticateFirst, token_is_valid=token_is_valid)  # no body read without a token
    app.add_middleware(BodyLimit, max_bytes=get_settings().request_max_bytes)
    observability.install_metrics()
    app.add_middleware(RequestContext)  # request id, access log, metrics, a 500 that keeps the connection
    app.add_middleware(SecurityHeaders)
    return app
