"""Tokens can be trusted: the API refuses to start on the public default signing secret, `up` makes and
keeps a secret of its own per data directory, and a token that never expires is refused."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import jwt
from fastapi.testclient import TestClient

from dispatch import clock
from dispatch.cli import _kept_secret
from dispatch.config import INSECURE_DEFAULT_SECRET, get_settings


def test_tokens_without_expiry_or_signed_with_the_default_secret_are_refused(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    assert client.get("/api/auth/me", headers=login("admin")).status_code == 200
    now = clock.now()
    forever = jwt.encode({"sub": "1", "iat": now}, get_settings().secret_key, algorithm="HS256")
    forged = jwt.encode(
        {"sub": "1", "iat": now, "exp": now + timedelta(hours=1)}, INSECURE_DEFAULT_SECRET, algorithm="HS256"
    )
    for token in (forever, forged):
        answer = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, answer.text


def test_the_api_refuses_to_start_without_a_real_secret(tmp_path: Path) -> None:
    for secret in (None, INSECURE_DEFAULT_SECRET, "short"):
        env = {k: v for k, v in os.environ.items() if k != "GRID_SECRET_KEY"}
        if secret is not None:
            env["GRID_SECRET_KEY"] = secret
        started = subprocess.run(
            [sys.executable, "-m", "dispatch.cli", "api", "--port", "1"],
            env={**env, "GRID_DATA_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert started.returncode == 2, started.stderr
        assert "拒绝启动" in started.stderr and "GRID_SECRET_KEY" in started.stderr


def test_up_keeps_one_secret_per_data_directory(tmp_path: Path) -> None:
    first = _kept_secret(tmp_path)
    assert len(first) >= 32 and first != INSECURE_DEFAULT_SECRET
    assert _kept_secret(tmp_path) == first  # the same after a restart: logins survive it
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    other = tmp_path / "other"
    other.mkdir()
    assert _kept_secret(other) != first
