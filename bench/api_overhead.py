"""Per-request API overhead: closed-loop POSTs of 12345 calls (and GETs of /api/auth/me, which do
nothing but authenticate) against ONE API process on a scratch PostgreSQL database, no worker.

The load comes from a lean HTTP/1.1 client (one keep-alive connection per lane, requests built once):
httpx spends about a millisecond of CPU per request, and on a small machine the client, not the API,
would be what is measured. Prints requests/s, p50/p99 latency and the API process's CPU per request.
Run:
    .venv/bin/python -m bench.api_overhead [--requests 2000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from bench.load import percentiles
from bench.stack import Stack

CALL = {
    "caller_name": "测试",
    "caller_phone": "13800000000",
    "address": "平城区演示路 8 号",
    "lon": 113.23528,  # inside the demo district's first grid
    "lat": 40.1250226,
    "request_type": "complaint",
    "category_code": "06010",
    "content": "基准测试：接口开销",
}
Request = Callable[[int], bytes]  # request number -> the whole HTTP/1.1 request


class Lane:
    """One keep-alive connection sending one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """(status, body) of one request; reconnects when the server closed the connection."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection") == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
        self.reader = self.writer = None


async def closed_loop(
    base: str, request: Request, *, requests: int, concurrency: int, first: int = 0
) -> tuple[float, list[float]]:
    """Send requests number `first`… (`requests` of them) over `concurrency` lanes; (wall seconds,
    latencies in seconds)."""
    address = urlsplit(base)
    lanes = [Lane(address.hostname or "127.0.0.1", address.port or 80) for _ in range(concurrency)]
    latencies: list[float] = []
    numbers = iter(range(first, first + requests))

    async def run(lane: Lane) -> None:
        for number in numbers:
            started = time.perf_counter()
            status, body = await lane.send(request(number))
            latencies.append(time.perf_counter() - started)
            if status >= 300:
                raise RuntimeError(f"{status}: {body[:300]!r}")
        await lane.close()

    started = time.perf_counter()
    await asyncio.gather(*(run(lane) for lane in lanes))
    return time.perf_counter() - started, latencies


def hotline_request(host: str, token: str, run: str) -> Request:
    def build(number: int) -> bytes:
        body = json.dumps({**CALL, "call_id": f"OVH-{run}-{number:07d}"}, ensure_ascii=False).encode()
        head = (
            f"POST /api/intake/hotline HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    return build


def me_request(host: str, token: str) -> Request:
    request = f"GET /api/auth/me HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    return lambda _: request


def measure(stack: Stack, *, requests: int, concurrency: int, warmup: int) -> None:
    base = stack.bases[0]
    login = httpx.post(f"{base}/api/auth/token", data={"username": "hotline", "password": "demo1234"})
    login.raise_for_status()
    token = login.json()["access_token"]
    host = urlsplit(base).netloc
    for name, request in (
        ("POST /api/intake/hotline", hotline_request(host, token, f"{time.time_ns():x}")),
        ("GET /api/auth/me", me_request(host, token)),
    ):
        asyncio.run(closed_loop(base, request, requests=warmup, concurrency=concurrency, first=requests))
        before = stack.cpu_snapshot()
        wall_s, latencies = asyncio.run(
            closed_loop(base, request, requests=requests, concurrency=concurrency)
        )
        use = stack.cpu_use(before, stack.cpu_snapshot())
        figures = percentiles(latencies)
        api_ms = use.get("api", 0.0) * wall_s / requests * 1000
        print(
            f"{name:<26} {requests / wall_s:6.0f} req/s  p50 {figures['p50_ms']:6.1f} ms  "
            f"p99 {figures['p99_ms']:6.1f} ms  API CPU {api_ms:5.2f} ms/request  "
            f"(client {use.get('client', 0.0):.0%}, postgres {use.get('postgres', 0.0):.0%}, "
            f"machine {use['machine']:.0%}; n={requests}, concurrency {concurrency})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    stack = Stack(api_procs=1, workers=0, redis_url=None, extra_env={})
    try:
        stack.start()
        measure(stack, requests=args.requests, concurrency=args.concurrency, warmup=args.warmup)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
