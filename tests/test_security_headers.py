"""Every answer carries the security headers; the pages get a content policy that allows only this
server's scripts; the npm manifests and the rest of node_modules are not served."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_headers_policy_and_hidden_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy

    api = client.get("/api/health")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.headers

    assert client.get("/node_modules/leaflet/dist/leaflet.js").status_code == 200  # the pages need it
    for hidden in ("/package.json", "/package-lock.json", "/node_modules/leaflet/package.json"):
        answer = client.get(hidden)
        assert answer.status_code == 404, hidden
        assert answer.headers["x-content-type-options"] == "nosniff"
