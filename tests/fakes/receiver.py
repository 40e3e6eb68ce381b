"""A stand-in for another system that receives our signed deliveries (the city 12345 platform's 回传
endpoint): `python -m tests.fakes.receiver PORT SECRET LOG`. Each request is checked the way a real
receiver would (HMAC-SHA256 of "<timestamp>.<body>") and appended to LOG as one JSON line; a delivery id
seen before is answered 200 and marked as a repeat, so the test sees whether anything came twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    port, secret, log = int(sys.argv[1]), sys.argv[2].encode(), Path(sys.argv[3])
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            timestamp = self.headers.get("X-Grid-Timestamp", "")
            given = self.headers.get("X-Grid-Signature", "").removeprefix("sha256=")
            expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            delivery = self.headers.get("X-Grid-Delivery", "")
            record = {
                "path": self.path,
                "delivery": delivery,
                "valid": hmac.compare_digest(given, expected),
                "repeat": delivery in seen,
                "body": json.loads(body),
            }
            seen.add(delivery)
            with log.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.send_response(200 if record["valid"] else 401)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
