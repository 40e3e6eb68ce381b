"""What an operator watches: a request id on every request and log line, JSON logs, Prometheus metrics,
and a last-resort 500 that keeps the connection alive.

- `RequestContext` (ASGI middleware) takes `X-Request-ID` from the caller (or makes one), answers with
  it, writes one access line per request, counts and times it by route template, and turns an
  exception nobody handled into a JSON 500 naming the request id. Starlette's own last resort sends
  the 500 and then re-raises, and uvicorn closes a connection whose application raised: the next
  request on that keep-alive connection failed.
- `configure_logging()` puts every logger (ours, uvicorn's, RQ's) through one handler: JSON lines
  (`GRID_LOG_FORMAT=json`, what compose sets) or text, each with the request id, tokens redacted.
- `/metrics` serves the Prometheus text format. Figures owned by other processes (queues, routing
  latency, periodic passes) are read at scrape time from Redis and the database, so any API process
  gives the whole system's view.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlmodel import col, func, select

from dispatch import clock
from dispatch.auth.models import Role
from dispatch.auth.service import user_from_token
from dispatch.config import get_settings
from dispatch.db import new_session
from dispatch.errors import Forbidden, NotAuthenticated
from dispatch.openapi import error_responses
from dispatch.security import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
access_log = logging.getLogger("grid-dispatch.access")

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
_GOOD_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SECRET_PARAM = re.compile(r"((?:access_)?token=)[^&\s\"']+")

REQUESTS = Counter(
    "grid_http_requests",
    "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "grid_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBSOCKET_CLIENTS = Gauge("grid_websocket_clients", "Console websocket clients connected to this API process")
UNHANDLED = Counter("grid_http_unhandled_errors", "Requests that ended in an unhandled exception (500)")


def redact(text: str) -> str:
    """`token=…` (the console websocket's bearer token in its URL) as `token=***`."""
    return _SECRET_PARAM.sub(r"\1***", text) if "token=" in text else text


def _route_label(scope: Scope) -> str:
    """The route template (`/api/tickets/{ticket_id}`), so ids do not make a label each."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str) and path:
        return path
    return "static" if route is not None else "unmatched"


class RequestContext:
    """Request id, access log, metrics and the last-resort 500 (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _GOOD_ID.match(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        try:
            if scope["type"] == "http":
                await self._http(scope, receive, send, request_id)
            else:
                await self.app(scope, receive, send)
        finally:
            REQUEST_ID.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            UNHANDLED.inc()
            log.exception("unhandled error in %s %s", scope.get("method"), redact(scope.get("path", "")))
            if response_started:
                raise  # half an answer is out: only closing the connection can tell the client
            status = 500
            await _internal_error(send, request_id)
        finally:
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            method = method if method in KNOWN_METHODS else "OTHER"  # any token is a method to the server
            route = _route_label(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            query = scope.get("query_string", b"").decode("latin-1")
            access_log.info(
                "%s %s%s %d %.1f ms",
                method,
                scope.get("path", ""),
                f"?{redact(query)}" if query else "",
                status,
                elapsed * 1000,
                extra={"status": status, "duration_ms": round(elapsed * 1000, 1), "route": route},
            )


async def _internal_error(send: Send, request_id: str) -> None:
    body = json.dumps(
        {"detail": f"服务器内部错误，已记录（请求编号 {request_id}），请稍后重试", "request_id": request_id},
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------------------------------- logs --


class RequestIdFilter(logging.Filter):
    """Stamps every record with the request id of the request it was logged in (`-` outside one) and
    redacts tokens from its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        message = record.getMessage()
        if "token=" in message:
            record.msg, record.args = redact(message), ()
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, any `extra` fields, and the
    exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


JsonFormatter.converter = time.gmtime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def configure_logging(fmt: str | None = None) -> None:
    """Route every logger through one stderr handler, JSON or text (GRID_LOG_FORMAT), with request ids."""
    fmt = (fmt or get_settings().log_format).lower()
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "rq.worker"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


# ---------------------------------------------------------------------------------------- metrics --


class SystemCollector(Collector):
    """Read at each scrape: queue depths and oldest job ages, periodic passes, routing latency over the
    last five minutes and tickets waiting to be routed, and whether Redis and the database answer."""

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # registering must not scrape (it would touch Redis and the database)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._queues()
        yield from self._database()

    def _queues(self) -> Iterator[GaugeMetricFamily]:
        from dispatch.periodic import last_runs
        from dispatch.queues import queue_stats

        up = GaugeMetricFamily("grid_redis_up", "1 when Redis answers")
        try:
            stats, runs = queue_stats(), last_runs()
        except Exception:  # Redis away (or an odd job in it): report it, a scrape never fails
            log.warning("metrics: queues unreadable", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        families = {
            "depth": GaugeMetricFamily("grid_queue_jobs", "Jobs waiting in a queue", labels=["queue"]),
            "oldest_age_s": GaugeMetricFamily(
                "grid_queue_oldest_job_age_seconds",
                "Age of the oldest waiting job (0: none)",
                labels=["queue"],
            ),
            "retrying": GaugeMetricFamily(
                "grid_queue_retrying_jobs", "Failed jobs waiting for their retry", labels=["queue"]
            ),
            "failed": GaugeMetricFamily(
                "grid_queue_failed_jobs", "Jobs that failed for good", labels=["queue"]
            ),
        }
        for queue, figures in stats.items():
            for key, family in families.items():
                family.add_metric([queue], float(figures[key] or 0))
        yield from families.values()
        finished = GaugeMetricFamily(
            "grid_periodic_last_finished_timestamp_seconds",
            "When a periodic job last finished",
            labels=["job"],
        )
        took = GaugeMetricFamily(
            "grid_periodic_last_duration_seconds",
            "How long its last pass took (supervision, sweep)",
            labels=["job"],
        )
        ok = GaugeMetricFamily("grid_periodic_last_ok", "1 when its last pass succeeded", labels=["job"])
        for name, run in runs.items():
            finished.add_metric([name], run["finished_at"])
            took.add_metric([name], run["duration_s"])
            ok.add_metric([name], run["ok"])
        yield from (finished, took, ok)

    def _database(self) -> Iterator[GaugeMetricFamily]:
        from dispatch.tickets.models import Action, Ticket, TicketLog, TicketState

        up = GaugeMetricFamily("grid_database_up", "1 when the database answers")
        try:
            with new_session() as session:
                since = clock.now() - timedelta(minutes=5)
                rows = session.exec(
                    select(TicketLog.at, Ticket.created_at)
                    .join(Ticket, col(Ticket.id) == col(TicketLog.ticket_id))
                    .where(col(TicketLog.action) == Action.ROUTE, col(TicketLog.at) >= since)
                    .order_by(col(TicketLog.id).desc())
                    .limit(10_000)
                ).all()
                waiting = session.exec(
                    select(func.count()).select_from(Ticket).where(col(Ticket.state) == TicketState.NEW)
                ).one()
        except Exception:  # a scrape reports the outage, it never fails
            log.warning("metrics: database unreachable", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        latencies = sorted(max(0.0, (routed - created).total_seconds()) for routed, created in rows)
        routing = GaugeMetricFamily(
            "grid_routing_latency_seconds",
            "Intake to routed, tickets routed in the last 5 minutes (quantile 1 = slowest)",
            labels=["quantile"],
        )
        for q in (0.5, 0.95, 0.99, 1.0):
            routing.add_metric([str(q)], _quantile(latencies, q))
        yield routing
        count = GaugeMetricFamily("grid_routed_tickets_5m", "Tickets routed in the last 5 minutes")
        count.add_metric([], len(latencies))
        yield count
        backlog = GaugeMetricFamily("grid_tickets_waiting_routing", "Accepted tickets not routed yet")
        backlog.add_metric([], waiting)
        yield backlog


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


_collector: SystemCollector | None = None


def install_metrics() -> None:
    """Register the scrape-time collector with the default registry, once per process (create_app)."""
    global _collector
    if _collector is None:
        _collector = SystemCollector()
        REGISTRY.register(_collector)


_bearer = HTTPBearer(auto_error=False)
router = APIRouter(tags=["health"])


def metrics_reader(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """Who may scrape: the `GRID_METRICS_TOKEN` (what Prometheus is given) or an admin's login."""
    if credentials is None:
        raise NotAuthenticated("需要登录（或 GRID_METRICS_TOKEN）才能读取监控指标")
    expected = get_settings().metrics_token
    if expected and secrets.compare_digest(credentials.credentials.encode(), expected.encode()):
        return
    with new_session() as session:
        user = user_from_token(session, credentials.credentials)
    if user.role is not Role.ADMIN:
        raise Forbidden("只有管理员可以读取监控指标")


@router.get(
    "/metrics",
    response_class=Response,
    responses={**error_responses(401, 403), 200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(_: Annotated[None, Depends(metrics_reader)]) -> Response:
    """Prometheus text format: HTTP rates and latencies, websocket clients, queues, routing latency,
    periodic passes. Bearer `GRID_METRICS_TOKEN` or an admin's token."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/health/live")
def live() -> dict[str, str]:
    """Liveness: this process answers. Restart it only when this fails; it asks nothing of the
    database or Redis, so their outage never gets healthy API processes killed."""
    return {"status": "ok"}


@router.get(
    "/api/health/ready",
    responses={
        503: {"description": "not ready: the database is unreachable or its schema is not this code's"}
    },
)
def ready(response: Response) -> dict[str, str]:
    """Readiness: send traffic here only when the database answers with this code's schema (503
    otherwise). Redis is not required: intake keeps accepting while it is away (routing waits)."""
    from sqlalchemy import text

    from dispatch.migrate import head_revision

    answer = {"status": "ok", "database": "ok", "schema": "ok"}
    try:
        with new_session() as session:
            revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # the probe reports, it never raises; the detail (hosts, users) goes to the log only
        log.warning("readiness: database unreachable", exc_info=True)
        response.status_code = 503
        return {**answer, "status": "unavailable", "database": "unreachable"}
    if revision != head_revision():
        response.status_code = 503
        answer.update(
            status="unavailable",
            schema=f"database at {revision}, code expects {head_revision()}: run `grid-dispatch migrate`",
        )
    return answer
