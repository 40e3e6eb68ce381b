"""The API's logs never hold a bearer token: the console's websocket carries one in `?token=`, and the
server writes every request line to its log."""

from __future__ import annotations

import httpx
import pytest
from websockets.sync.client import connect

from tests.processes import Processes, free_port, token, wait_healthy

pytestmark = pytest.mark.e2e


def test_tokens_in_urls_are_not_logged(processes: Processes) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start("api", "api", "--port", str(port))
    wait_healthy(base)
    secret = token(base, "dispatcher")
    with connect(f"ws://127.0.0.1:{port}/api/console/ws?token={secret}&since=0") as ws:
        ws.ping().wait(5)  # accepted and answering
    httpx.get(f"{base}/api/health?token={secret}")
    processes.stop("api")
    log = (processes.logs / "api.log").read_text(errors="replace")
    assert "/api/console/ws?token=***" in log  # the request line is still there, without the secret
    assert secret not in log
    assert secret.split(".")[2] not in log  # not even the signature part
