"""The audit log: an admin's changes to base data, rules, users and keys are logged with who, when,
before and after (secrets hidden); nobody else's moves are; admins search and export it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

Login = Callable[[str], dict[str, str]]


def audit(client: TestClient, admin: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/admin/audit", params=params, headers=admin)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def test_admin_changes_are_logged_before_and_after(client: TestClient, login: Login) -> None:
    admin = login("admin")
    me = client.get("/api/auth/me", headers=admin).json()
    assert audit(client, admin) == []

    put = client.put("/api/admin/departments/hbj", json={"name": "区环保局"}, headers=admin)
    assert put.status_code == 200, put.text
    client.put("/api/admin/departments/hbj", json={"name": "区生态环境保护局"}, headers=admin)
    rule = client.post(
        "/api/admin/rules",
        json={"category_code": "06027", "area_code": "140213050", "department_code": "hbj"},
        headers=admin,
    ).json()
    client.delete(f"/api/admin/rules/{rule['id']}", headers=admin)
    key = client.post("/api/admin/api-keys", json={"name": "审计测试", "scopes": ["open311"]}, headers=admin)
    assert key.status_code == 201
    gone = client.post("/api/admin/people/cg2/deactivate", headers=admin)
    assert gone.status_code == 200, gone.text

    # Someone else's work is not an admin change: a dispatcher's move leaves no entry.
    before = len(audit(client, admin))
    client.post("/api/auth/token", data={"username": "dispatcher", "password": "demo1234"})
    assert len(audit(client, admin)) == before

    departments = audit(client, admin, entity="department")
    assert [(e["action"], e["entity_key"]) for e in reversed(departments)][:2] == [
        ("create", next(e["entity_key"] for e in departments if e["action"] == "create")),
        ("update", departments[0]["entity_key"]),
    ]
    update = departments[0]
    assert update["before"] == {"name": "区环保局"} and update["after"] == {"name": "区生态环境保护局"}
    assert update["actor_name"] == me["full_name"] and update["actor_id"] == me["id"]
    rules = audit(client, admin, entity="rule")
    assert [e["action"] for e in rules] == ["delete", "create"]
    assert rules[1]["entity_key"] == str(rule["id"]) and rules[0]["before"]["category_code"] == "06027"
    keys = audit(client, admin, entity="api_key")
    assert keys[0]["after"]["secret_sha256"] == "***" and keys[0]["after"]["name"] == "审计测试"
    users = audit(client, admin, entity="user")
    deactivated = next(e for e in users if e["action"] == "update" and e["after"].get("active") is False)
    assert deactivated["before"]["active"] is True
    assert not any(
        "password_hash" in (e["after"] or {}) and e["after"]["password_hash"] != "***" for e in users
    )

    # Searchable, exportable.
    assert [e["entity"] for e in audit(client, admin, q="生态环境保护局")] == ["department"]
    assert audit(client, admin, actor=me["full_name"]) == audit(client, admin)
    assert audit(client, admin, actor="nobody-by-that-name") == []
    csv = client.get("/api/admin/audit", params={"format": "csv", "entity": "rule"}, headers=admin)
    text = csv.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "时间,操作人,操作,对象,编号,修改前,修改后"
    assert "删除" in text and "06027" in text
    xlsx = client.get("/api/admin/audit", params={"format": "xlsx"}, headers=admin)
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert client.get("/api/admin/audit", headers=login("leader")).status_code == 403
