"""Grid import/export through the admin API and the CLI."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session

from dispatch.admin_cli import main as admin_main
from dispatch.grids.admin_views import router
from dispatch.grids.export import export_geojson
from tests.test_base_files import app_with, bearer, tiny_district, write


@pytest.fixture
def api(database_url: str, redis_db: Redis) -> Iterator[TestClient]:
    with TestClient(app_with(router)) as client:
        yield client


def test_upload_dry_run_then_import_then_export(api: TestClient, tmp_path: Path) -> None:
    admin = bearer(api, "admin")
    path = write(tmp_path / "tiny.geojson", tiny_district())
    dry = api.post(
        "/api/admin/grids/import?dry_run=true",
        headers=admin,
        files={"file": ("tiny.geojson", path.read_bytes())},
    )
    assert dry.status_code == 200, dry.text
    assert (dry.json()["ok"], dry.json()["version_id"]) == (True, None)

    real = api.post(
        "/api/admin/grids/import", headers=admin, files={"file": ("tiny.geojson", path.read_bytes())}
    )
    version_id = real.json()["version_id"]
    assert real.json()["ok"] and version_id is not None
    listed = api.get("/api/admin/grids/versions", headers=admin).json()
    assert [v["id"] for v in listed if v["current"]] == [version_id]

    exported = api.get("/api/admin/grids/export", headers=admin)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/geo+json")
    codes = [f["properties"]["code"] for f in json.loads(exported.text)["features"]]
    assert codes == ["140213", "140213050", "140213050001", "140213050001001", "140213050001002"]
    assert api.get("/api/admin/grids/export?version_id=999", headers=admin).status_code == 404


def test_broken_upload_gets_the_report_and_nothing_is_written(api: TestClient, tmp_path: Path) -> None:
    admin = bearer(api, "admin")
    features = tiny_district()
    features[4]["geometry"]["coordinates"][0].pop()  # unclosed ring in feature 5
    answer = api.post(
        "/api/admin/grids/import",
        headers=admin,
        files={"file": ("bad.geojson", write(tmp_path / "bad.geojson", features).read_bytes())},
    )
    body = answer.json()
    assert answer.status_code == 200 and body["ok"] is False and body["version_id"] is None
    errors = [(p["kind"], p["where"]) for p in body["problems"] if p["severity"] == "error"]
    assert errors == [("unclosed_ring", 5)]  # and no gap reported as a consequence
    assert len(api.get("/api/admin/grids/versions", headers=admin).json()) == 1


@pytest.mark.parametrize("who", ["dispatcher", "wgy0001", "cg1"])
def test_only_admins_import(api: TestClient, tmp_path: Path, who: str) -> None:
    path = write(tmp_path / "tiny.geojson", tiny_district())
    answer = api.post(
        "/api/admin/grids/import", headers=bearer(api, who), files={"file": ("t.geojson", path.read_bytes())}
    )
    assert answer.status_code == 403


def test_cli_dry_run_import_and_broken_file(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "tiny.geojson", tiny_district())
    admin_main(["grids", "import", str(path), "--dry-run"])
    out = capsys.readouterr()
    assert "可以导入" in out.out and "试运行" in out.out
    assert "检查要素" in out.err  # progress on stderr

    features = tiny_district()
    features[3]["properties"]["code"] = "140213050001002"
    with pytest.raises(SystemExit) as exit_info:
        admin_main(["grids", "import", str(write(tmp_path / "dup.geojson", features)), "--quiet"])
    assert exit_info.value.code == 2
    out = capsys.readouterr().out
    assert "错误 第 5 要素 [140213050001002]: 编码重复：与第 4 要素相同 (duplicate_code)" in out
    assert "不能导入，未写入任何数据" in out

    admin_main(["grids", "import", str(path), "--label", "合并社区后", "--quiet"])
    assert "已导入为网格版本" in capsys.readouterr().out
    admin_main(["grids", "versions"])
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith("*") and "合并社区后" in listing[0]
    out_path = tmp_path / "export.geojson"
    admin_main(["grids", "export", "-o", str(out_path)])
    buffer = io.StringIO()
    session.expire_all()
    export_geojson(session, buffer)
    assert out_path.read_text(encoding="utf-8") == buffer.getvalue()
