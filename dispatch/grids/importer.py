"""Grid import: validate a whole GeoJSON file first, then add it as a new grid version in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.auth.models import Role, User
from dispatch.config import get_settings
from dispatch.grids.geojson_read import (
    MalformedGeoJSON,
    check_feature,
    check_header,
    iter_features,
    scan_header,
)
from dispatch.grids.locator import current_version_id
from dispatch.grids.models import Area, AreaLevel, GridVersion
from dispatch.grids.report import Report
from dispatch.grids.shift import centroids, measure_shift, report_shift
from dispatch.grids.spool import Spool
from dispatch.grids.topology import check_family

Progress = Callable[[str, int, int], None]  # (stage label, done, total)
DEFAULT_TOLERANCE_M2 = 1.0
_BATCH = 2000
_PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class GridImport:
    """The validation report and, if the import happened, the new version's id."""

    report: Report
    version_id: int | None


def import_grid_file(
    session: Session,
    path: Path,
    *,
    label: str,
    effective_at: datetime | None = None,
    dry_run: bool = False,
    tolerance_m2: float = DEFAULT_TOLERANCE_M2,
    accept_shift: bool = False,
    progress: Progress | None = None,
) -> GridImport:
    """Validate the whole file; if nothing blocks it and not dry_run, add a new active version (flushes only).

    All-or-nothing: with any error nothing is written. The caller commits; routing switches to the new
    version once it is committed and its effective time has come (see locator.current_version_id).
    A file that moves the whole district against the current version (e.g. GCJ-02 coordinates) is an
    error unless accept_shift, which makes it a warning.
    """
    report = Report(unit="要素")
    with Spool() as spool:
        _validate(session, path, report, spool, tolerance_m2, accept_shift, progress or _quiet)
        if dry_run or not report.ok:
            return GridImport(report, None)
        version_id = _write(session, spool, label, effective_at, progress or _quiet)
    return GridImport(report, version_id)


def _quiet(_stage: str, _done: int, _total: int) -> None:
    return None


def _validate(
    session: Session,
    path: Path,
    report: Report,
    spool: Spool,
    tolerance_m2: float,
    accept_shift: bool,
    progress: Progress,
) -> None:
    try:
        header = scan_header(path)
        check_header(header, report)
        district_code = get_settings().district_code
        total = header.feature_count
        for number, raw in iter_features(path):
            record = check_feature(number, raw, report, district_code=district_code)
            if record is not None:
                spool.add(record)
            if number % _PROGRESS_EVERY == 0 or number == total:
                progress("检查要素", number, total)
    except MalformedGeoJSON as exc:
        report.error("malformed_json", str(exc))
        return
    spool.finish()
    report.counts.update(features=total, **spool.level_counts())
    if total == 0:
        report.error("no_features", "文件中没有要素")
    if report.counts[AreaLevel.DISTRICT.value] != 1:
        report.error("district_count", f"文件应恰有 1 个区级要素（实有 {report.counts['district']} 个）")
    _check_codes(report, spool)
    _check_officers(session, report, spool)
    _check_shift(session, report, spool, accept_shift)
    families = list(spool.families())
    for done, (parent, children) in enumerate(families, start=1):
        check_family(report, parent, children, tolerance_m2=tolerance_m2)
        if done % 50 == 0 or done == len(families):
            progress("检查重叠与缝隙", done, len(families))


def _check_codes(report: Report, spool: Spool) -> None:
    for code, numbers in spool.duplicates():
        for number in numbers[1:]:
            report.error("duplicate_code", f"编码重复：与第 {numbers[0]} 要素相同", where=number, code=code)
    for number, code, parent_code in spool.missing_parents():
        report.error("missing_parent", f"上级编码 {parent_code} 不在文件中", where=number, code=code)
    for number, code, parent_code, parent_level in spool.wrong_parent_levels():
        report.error(
            "parent_level", f"上级 {parent_code} 是 {parent_level} 级，不是上一级", where=number, code=code
        )


def _check_officers(session: Session, report: Report, spool: Spool) -> None:
    names = sorted(spool.officers())
    users: dict[str, User] = {}
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        users.update((u.username, u) for u in session.exec(select(User).where(col(User.username).in_(chunk))))
    for name in names:
        user = users.get(name)
        if user is None:
            report.error("unknown_officer", f"网格员账号「{name}」不存在（先导入人员）", code=name)
        elif user.role is not Role.GRID_OFFICER:
            report.error("officer_not_grid_officer", f"账号「{name}」不是网格员（角色 {user.role.value}）")
        elif not user.active:
            report.error("officer_inactive", f"网格员「{name}」已停用，不能承担网格")
    for number, code in spool.misplaced_officers():
        report.warning(
            "officer_not_on_grid", "只有网格级要素有网格员，duty_officer 被忽略", where=number, code=code
        )
    grids = report.counts.get(AreaLevel.GRID.value, 0)
    unassigned = grids - spool.grids_with_officer()
    if unassigned:
        report.warning("grids_without_officer", f"{unassigned} 个网格未指定网格员（duty_officer）")


def _check_shift(session: Session, report: Report, spool: Spool, accept_shift: bool) -> None:
    """Compare the file with the current version, area by area of the same code (see grids.shift)."""
    version_id = current_version_id(session)
    if version_id is None:
        return
    rows = session.exec(
        select(Area.code, Area.geometry)
        .where(Area.version_id == version_id)
        .execution_options(yield_per=1000)
    )
    shift = measure_shift(centroids((code, text) for code, text in rows), centroids(spool.geometries()))
    if shift is not None:
        report_shift(report, shift, version_id=version_id, accepted=accept_shift)


def _write(
    session: Session, spool: Spool, label: str, effective_at: datetime | None, progress: Progress
) -> int:
    now = clock.now()
    version = GridVersion(label=label, effective_at=effective_at or now, created_at=now, active=True)
    session.add(version)
    session.flush()
    version_id = version.id or 0
    officer_ids = dict(
        session.exec(select(User.username, User.id).where(User.role == Role.GRID_OFFICER)).all()
    )
    total = sum(v for k, v in spool.level_counts().items())
    rows: list[dict[str, object]] = []
    done = 0
    for record in spool.records():
        is_grid = record.level is AreaLevel.GRID
        rows.append(
            {
                "version_id": version_id,
                "code": record.code,
                "name": record.name,
                "level": record.level,
                "parent_code": record.parent_code,
                "kind": record.kind,
                "geometry": record.geometry or "",  # never empty here: any refusal blocks the import
                "duty_officer_id": officer_ids.get(record.duty_officer or "") if is_grid else None,
            }
        )
        if len(rows) >= _BATCH:
            session.execute(insert(Area), rows)
            done += len(rows)
            rows.clear()
            progress("写入数据库", done, total)
    if rows:
        session.execute(insert(Area), rows)
        progress("写入数据库", done + len(rows), total)
    session.flush()
    return version_id
