"""The files of a backup: the backup itself, published whole or not at all, and its sidecar manifest
(`<backup>.json`) recording what it holds and the checksum that proves it is complete."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from dispatch.errors import DispatchError

FORMAT = "grid-dispatch-backup/1"
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
SUFFIXES = {"sqlite": "sqlite", "postgresql": "dump"}


class BackupError(DispatchError):
    """A backup cannot be made or restored; the message tells the operator why (nothing was changed)."""


@dataclass(frozen=True)
class Manifest:
    """What a backup holds: backend, schema revision, row counts, and the checksum of the file."""

    backend: str
    revision: str | None
    created_at: str  # ISO 8601, UTC
    counts: dict[str, int]
    sha256: str
    size_bytes: int
    file_name: str
    format: str = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n"


def sidecar_path(backup: Path) -> Path:
    return backup.with_name(backup.name + ".json")


def partial_path(final: Path) -> Path:
    """Where a file is written until it is complete; the name says it is not a backup yet."""
    return final.with_name(final.name + ".partial")


def default_name(backend: str, created_at: datetime) -> str:
    return f"grid-dispatch-{backend}-{created_at:%Y%m%dT%H%M%SZ}.{SUFFIXES[backend]}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def publish(partial: Path, final: Path) -> None:
    """Make a completely written file durable, then give it its final name in one atomic rename."""
    with partial.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_manifest(backup: Path, manifest: Manifest) -> Path:
    """Write the sidecar next to `backup` (atomically, like the backup itself); returns its path."""
    final = sidecar_path(backup)
    partial = partial_path(final)
    partial.write_text(manifest.to_json(), encoding="utf-8")
    publish(partial, final)
    return final


def read_manifest(backup: Path) -> Manifest | None:
    """The sidecar of `backup`, or None when there is none; BackupError when it is unreadable."""
    path = sidecar_path(backup)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest(
            backend=str(data["backend"]),
            revision=data["revision"],
            created_at=str(data["created_at"]),
            counts={str(k): int(v) for k, v in data["counts"].items()},
            sha256=str(data["sha256"]),
            size_bytes=int(data["size_bytes"]),
            file_name=str(data["file_name"]),
            format=str(data["format"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupError(f"校验文件 {path} 无法读取：{exc} (manifest unreadable)") from exc
    if manifest.format != FORMAT:
        raise BackupError(f"校验文件 {path} 的格式 {manifest.format} 不受支持 (unknown manifest format)")
    return manifest


def backend_of_file(path: Path) -> str:
    """'sqlite' or 'postgresql', from the first bytes of the file; BackupError for anything else."""
    with path.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_CUSTOM_MAGIC):
        return "postgresql"
    raise BackupError(
        f"{path} 不是网格调度的备份文件（既不是 SQLite 数据库，也不是 pg_dump 自定义格式）"
        " (not a grid-dispatch backup)"
    )


def verify_checksum(path: Path, manifest: Manifest) -> None:
    """BackupError unless the file has exactly the size and SHA-256 the manifest recorded."""
    size = path.stat().st_size
    if size != manifest.size_bytes:
        raise BackupError(
            f"备份文件不完整或已损坏：大小 {size} 字节，校验文件记录为 {manifest.size_bytes} 字节"
            " (size does not match the manifest)"
        )
    if sha256_of(path) != manifest.sha256:
        raise BackupError("备份文件已损坏：SHA-256 校验值与校验文件不符 (sha256 mismatch)")
