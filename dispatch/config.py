"""The one settings object. Nothing else in the code base reads os.environ."""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

INSECURE_DEFAULT_SECRET = "change-me-in-production-grid-dispatch"
MIN_SECRET_CHARS = 32


class Settings(BaseSettings):
    """Runtime configuration, read from GRID_* environment variables (DATABASE_URL and REDIS_URL too)."""

    model_config = SettingsConfigDict(env_prefix="GRID_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = Field(default="", validation_alias="DATABASE_URL")
    redis_url: str = Field(default="", validation_alias="REDIS_URL")
    embedded_redis_port: int = 6389

    secret_key: str = (
        INSECURE_DEFAULT_SECRET  # `api` refuses to start with it; `up` keeps its own per data dir
    )
    token_ttl_s: int = 12 * 3600
    # Login throttling: wrong passwords per account / per client address within the lock window.
    login_max_failures: int = 10
    login_max_failures_per_address: int = 100
    login_lock_s: int = 15 * 60

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    district_code: str = "140213"
    timezone: str = "Asia/Shanghai"
    # Office hours (working time counts only inside them), local time.
    office_hours: list[tuple[time, time]] = [(time(8, 30), time(12, 0)), (time(13, 30), time(17, 30))]

    photo_max_bytes: int = 5 * 1024 * 1024
    photos_max_count: int = 6
    # Photos are decoded and stored re-encoded: refused above this many pixels (Pillow itself balks
    # near 89 MP) or this long a side; stored upright, long side at most photo_stored_max_side_px.
    photo_max_pixels: int = Field(default=40_000_000, gt=0, le=89_000_000)
    photo_max_side_px: int = Field(default=16_384, gt=0)
    photo_stored_max_side_px: int = Field(default=4096, ge=256)
    # Largest request body: a patrol report with the most photos at their largest, plus its form.
    request_max_bytes: int = 6 * 5 * 1024 * 1024 + 1024 * 1024
    # Logs: "text" (readable in a terminal, what `up` shows) or "json" (one object per line, compose).
    log_format: str = "text"
    # Bearer token Prometheus scrapes /metrics with (admins' logins work too); empty: admins only.
    metrics_token: str = ""
    text_max_chars: int = 2000
    district_margin_deg: float = 0.02

    # Supervision (督办): sign-for limit, yellow warning share, escalation delay, extension bound.
    sign_limit_working_hours: int = 2
    warn_share: float = Field(default=0.8, gt=0, lt=1)
    escalate_after_working_hours: int = 4
    extension_max_working_days: int = 30
    supervise_interval_s: int = 60
    # Open311 GeoReport v2: the jurisdiction_id this endpoint answers to (others: 404).
    open311_jurisdiction: str = "pingcheng"
    # The city 12345 platform: where 回传 goes, the secret both sides sign with, how old a signed
    # request may be (and how long its signature is remembered against replays).
    city12345_callback_url: str = ""
    city12345_secret: str = ""
    signature_window_s: int = Field(default=300, ge=10, le=3600)
    # The outbox (回传 and other deliveries): retried with backoff base·2^(n−1) up to the cap, given up
    # (failed, manual retry) after the last attempt; delivered by a periodic pass too.
    outbox_retry_base_s: float = Field(default=10, gt=0)
    outbox_retry_max_s: float = Field(default=3600, gt=0)
    outbox_max_attempts: int = Field(default=12, ge=1)
    outbox_timeout_s: float = Field(default=10, gt=0)
    outbox_interval_s: int = Field(default=5, ge=1)
    # A webhook subscription is paused after this many of its messages in a row were given up.
    webhook_pause_after: int = Field(default=3, ge=1)
    # Field verification (核实/核查) by the grid's duty officer: answered within this many working hours.
    verify_working_hours: float = Field(default=2, gt=0, le=240)
    # Share of 自行处置 cases sampled for review (抽查) by the community workstation; 0 turns it off.
    self_resolve_review_share: float = Field(default=0.1, ge=0, le=1)
    # Duplicates (重复件): same category, this close, this recent.
    duplicate_radius_m: float = 200.0
    duplicate_window_h: int = 72
    # At most this many suggestions per ticket: the same caller first, then the nearest. A busy corner
    # (a market, a school gate) gathers hundreds of open tickets; a dispatcher reads the first few.
    duplicate_max: int = Field(default=10, ge=1, le=100)

    route_batch_size: int = 500
    # Group commit at intake: reports arriving while a commit is in flight are written together (one
    # transaction per group, each answered after it). Off: one transaction per report.
    intake_group_commit: bool = True
    intake_group_max: int = 500
    sweep_interval_s: int = 10
    sweep_min_age_s: int = 5
    # KPI rollup: how often the scheduler folds new ticket log rows into it (queries stay exact between).
    kpi_refresh_interval_s: int = 30

    @property
    def effective_database_url(self) -> str:
        """The configured database, or the embedded SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'grid-dispatch.sqlite3').resolve()}"

    @property
    def effective_redis_url(self) -> str:
        """The configured Redis, or the embedded one that `grid-dispatch up` starts."""
        return self.redis_url or f"redis://127.0.0.1:{self.embedded_redis_port}/0"

    def secret_problem(self) -> str | None:
        """Why the token-signing secret must not be used (None when it is fine)."""
        if self.secret_key == INSECURE_DEFAULT_SECRET:
            return "GRID_SECRET_KEY 未设置：使用公开的默认密钥，任何人都能伪造管理员令牌"
        if len(self.secret_key) < MIN_SECRET_CHARS:
            return f"GRID_SECRET_KEY 太短：至少 {MIN_SECRET_CHARS} 个字符"
        return None

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """Settings of this process (cached; tests clear the cache after changing the environment)."""
    return Settings()
