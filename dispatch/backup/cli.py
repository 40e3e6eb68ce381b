"""`grid-dispatch backup` and `grid-dispatch restore`, for the district's IT staff."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dispatch.backup.archive import BACKEND_NAMES, sidecar_path
from dispatch.errors import DispatchError

STOP_FIRST = (
    "提示：恢复前请先停止 API、worker 和 scheduler，恢复完成后再启动"
    " (stop the API, workers and scheduler before restoring; start them again afterwards)"
)


def _size(size_bytes: int) -> str:
    size = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def cmd_backup(args: argparse.Namespace) -> None:
    from dispatch.backup.service import create_backup, describe_counts

    try:
        path, manifest = create_backup(args.output)
    except DispatchError as exc:
        print(f"备份失败 (backup failed)：{exc.message}", file=sys.stderr)
        raise SystemExit(2) from exc
    print(f"备份完成 (backup written): {path}")
    print(f"  数据库 (backend): {BACKEND_NAMES[manifest.backend]}，版本 (revision) {manifest.revision}")
    print(f"  大小 (size): {_size(manifest.size_bytes)}    SHA-256: {manifest.sha256}")
    print(f"  内容 (rows): {describe_counts(manifest.counts)}")
    print(f"  校验文件 (manifest): {sidecar_path(path)}")


def cmd_restore(args: argparse.Namespace) -> None:
    from dispatch.backup.service import describe_counts, restore_backup

    print(STOP_FIRST)
    try:
        restored = restore_backup(Path(args.path), confirmed=args.yes, force=args.force)
    except DispatchError as exc:
        print(f"未恢复 (not restored)：{exc.message}", file=sys.stderr)
        raise SystemExit(2) from exc
    if not restored.verified:
        print("注意：没有校验文件 (.json)，未核对 SHA-256 (no manifest; checksum not verified)")
    print(f"已恢复 (restored) {args.path} → {restored.target}")
    if restored.replaced_tickets:
        count = restored.replaced_tickets
        print(f"  已替换原有的 {count} 张工单 (replaced {count} tickets)")
    print(
        f"  数据库已迁移到最新版本 (migrated to head): {restored.backup_revision} → {restored.now.revision}"
    )
    print(f"  内容 (rows): {describe_counts(restored.now.counts)}")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `backup` and `restore` to the `grid-dispatch` parser."""
    backup = sub.add_parser(
        "backup", help="备份当前数据库 (back up the configured database: SQLite backup API / pg_dump)"
    )
    backup.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        help="backup file or directory (default: <data dir>/backups/grid-dispatch-<backend>-<UTC time>.*)",
    )
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore", help="用备份替换当前数据库 (replace the configured database with a backup)"
    )
    restore.add_argument("path", help="a file written by `grid-dispatch backup`")
    restore.add_argument(
        "--yes", action="store_true", help="confirm replacing a database that already holds tickets"
    )
    restore.add_argument(
        "--force",
        action="store_true",
        help="PostgreSQL: restore even while other connections (API, workers) use the database",
    )
    restore.set_defaults(func=cmd_restore)
