"""Driving the closed loop through the API in tests."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import select

from dispatch.catalog.models import Department
from dispatch.db import new_session
from tests.helpers import grids_in, inside

Login = Callable[[str], dict[str, str]]


def png_bytes(color: str = "green") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="PNG")
    return buffer.getvalue()


def department_id(code: str) -> int:
    with new_session() as s:
        return int(s.exec(select(Department.id).where(Department.code == code)).one() or 0)


class Desk:
    """Posts actions as named demo users and returns the answers' JSON (asserting the status)."""

    def __init__(self, client: TestClient, login: Login) -> None:
        self.client = client
        self._login = login
        self._headers: dict[str, dict[str, str]] = {}

    def headers(self, user: str) -> dict[str, str]:
        if user not in self._headers:
            self._headers[user] = self._login(user)
        return self._headers[user]

    def act(
        self, user: str, ticket_id: int, path: str, body: dict[str, Any] | None = None, expect: int = 200
    ) -> dict[str, Any]:
        answer = self.client.post(
            f"/api/tickets/{ticket_id}/{path}", json=body or {}, headers=self.headers(user)
        )
        assert answer.status_code == expect, answer.text
        return dict(answer.json())

    def get(self, user: str, ticket_id: int, expect: int = 200) -> dict[str, Any]:
        answer = self.client.get(f"/api/tickets/{ticket_id}", headers=self.headers(user))
        assert answer.status_code == expect, answer.text
        return dict(answer.json())

    def patrol(self, category: str = "06010", street: str = "140213050", **extra: Any) -> int:
        lon, lat = inside(grids_in(street)[0])
        data = {"lon": lon, "lat": lat, "category_code": category, "description": "巡查发现问题", **extra}
        answer = self.client.post("/api/intake/patrol", data=data, headers=self.headers("wgy0001"))
        assert answer.status_code == 201, answer.text
        return int(answer.json()["ticket_id"])

    def call(self, call_id: str, category: str = "06010", located: bool = True, **extra: Any) -> int:
        body: dict[str, Any] = {
            "call_id": call_id,
            "caller_name": "钱女士",
            "caller_phone": "13511112222",
            "address": "永泰街道某小区3号楼",
            "request_type": "complaint",
            "category_code": category,
            "content": "楼下垃圾多日未清运",
            **extra,
        }
        if located:
            body["lon"], body["lat"] = inside(grids_in("140213050")[0])
        answer = self.client.post("/api/intake/hotline", json=body, headers=self.headers("hotline"))
        assert answer.status_code == 201, answer.text
        return int(answer.json()["ticket_id"])

    def actions(self, user: str, ticket_id: int) -> list[str]:
        return [entry["action"] for entry in self.get(user, ticket_id)["log"]]
