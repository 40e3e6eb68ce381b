"""`grid-dispatch`: up, migrate, seed-demo, api, worker, scheduler (and the admin commands)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from dispatch.admin_cli import register as register_admin
from dispatch.backup.cli import register as register_backup
from dispatch.config import get_settings
from dispatch.demo.history_cli import load_on_first_start
from dispatch.demo.history_cli import register as register_history
from dispatch.workcal.cli import register as register_calendar

log = logging.getLogger("grid-dispatch")


def cmd_migrate(_: argparse.Namespace) -> None:
    from dispatch.migrate import upgrade_to_head

    get_settings().data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head()
    print("数据库已迁移到最新版本 (database migrated to head)")


def cmd_seed_demo(args: argparse.Namespace) -> bool:
    """Load the demo district into an empty database; True if it did (False: already seeded)."""
    from dispatch.db import new_session
    from dispatch.demo.seed import is_seeded, seed_demo

    with new_session() as session:
        if is_seeded(session):
            print("数据库已有区划数据，跳过演示数据 (already seeded)")
            return False
        started = time.monotonic()
        counts = seed_demo(session, seed=args.seed)
        session.commit()
    print(f"演示区县已载入 (demo district loaded) in {time.monotonic() - started:.1f} s: {counts}")
    return True


def cmd_api(args: argparse.Namespace) -> None:
    import uvicorn

    settings = get_settings()
    problem = settings.secret_problem()
    if problem:
        print(
            f"拒绝启动：{problem}。请设置一个随机的长字符串，例如 "
            f"GRID_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')；"
            "`grid-dispatch up` 会自动生成并保存在数据目录中。",
            file=sys.stderr,
        )
        raise SystemExit(2)
    uvicorn.run(
        "dispatch.app:create_app",
        factory=True,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_config=None,  # our handler (configure_logging): request ids, JSON or text
        access_log=False,  # RequestContext writes the access line, with the request id and status
    )


def cmd_worker(args: argparse.Namespace) -> None:
    from workers.worker import run_worker

    run_worker(burst=args.burst)


def cmd_scheduler(_: argparse.Namespace) -> None:
    from workers.scheduler import run_scheduler

    run_scheduler()


def cmd_up(args: argparse.Namespace) -> None:
    """Run the whole system: (embedded Redis), migrations, demo data, API, workers, scheduler."""
    from dispatch.demo.seed import DEMO_LOGINS, DEMO_PASSWORD
    from dispatch.embedded import start_redis

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if settings.secret_problem():
        env["GRID_SECRET_KEY"] = _kept_secret(settings.data_dir)
    redis_process = None
    if not settings.redis_url:
        redis_process = start_redis(port=settings.embedded_redis_port, data_dir=settings.data_dir / "redis")
        env["REDIS_URL"] = settings.effective_redis_url
        print(f"内置 Redis 已启动 (embedded Redis) at {env['REDIS_URL']}")
    try:
        cmd_migrate(args)
        if cmd_seed_demo(args) and not args.no_history:
            load_on_first_start(seed=args.seed)  # last month's tickets: the dashboard and KPIs show a month
        if not (Path(__file__).resolve().parent.parent / "web" / "node_modules" / "leaflet").is_dir():
            print(
                "警告：web/node_modules 缺失，地图无法显示；请先运行 `npm ci --prefix web`", file=sys.stderr
            )
        port = args.port or settings.api_port
        me = [sys.executable, "-m", "dispatch.cli"]
        specs = {"api": [*me, "api", "--port", str(port), "--host", args.host or settings.api_host]}
        for n in range(args.workers):
            specs[f"worker-{n + 1}"] = [*me, "worker"]
        specs["scheduler"] = [*me, "scheduler"]
        _supervise(specs, env, banner=lambda: _banner(port, DEMO_LOGINS, DEMO_PASSWORD, settings.is_sqlite))
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


def _kept_secret(data_dir: Path) -> str:
    """This data directory's token-signing secret, made on first use (mode 0600) and kept across restarts."""
    import secrets

    path = data_dir / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _banner(port: int, logins: tuple[object, ...], password: str, sqlite: bool) -> None:
    print("\n" + "=" * 64)
    print(f"  网格调度 Grid Dispatch 已启动 — 调度台 http://127.0.0.1:{port}/")
    print(f"  API 文档 http://127.0.0.1:{port}/docs    健康检查 http://127.0.0.1:{port}/api/health")
    print(f"  数据库: {'内置 SQLite' if sqlite else 'PostgreSQL'}")
    print(f"  演示账号（密码均为 {password}）:")
    for login in logins:
        print(f"    {login.username:<12} {login.label}")  # type: ignore[attr-defined]
    print("  按 Ctrl-C 停止全部进程")
    print("=" * 64 + "\n", flush=True)


def _supervise(specs: dict[str, list[str]], env: dict[str, str], banner: object) -> None:
    """Start every child, restart one that dies, and stop them all on Ctrl-C or SIGTERM."""
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, argv in specs.items():
        children[name] = subprocess.Popen(argv, env=env)
    time.sleep(1.5)
    banner()  # type: ignore[operator]
    try:
        while not stopping:
            for name, process in list(children.items()):
                if process.poll() is not None and not stopping:
                    print(f"{name} 退出 (code {process.returncode})，正在重启", file=sys.stderr)
                    children[name] = subprocess.Popen(specs[name], env=env)
            time.sleep(0.5)
    finally:
        print("正在停止全部进程…", flush=True)
        for process in children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in children.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        print("已停止 (stopped)")


def main(argv: list[str] | None = None) -> None:
    from dispatch.observability import configure_logging

    configure_logging()
    parser = argparse.ArgumentParser(prog="grid-dispatch", description="网格调度 Grid Dispatch")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run everything with the demo district (embedded defaults)")
    up.add_argument("--workers", type=int, default=1)
    up.add_argument("--port", type=int, default=0)
    up.add_argument("--host", default="")
    up.add_argument("--seed", type=int, default=20261128)
    up.add_argument(
        "--no-history", action="store_true", help="on first start, do not play last month's demo tickets"
    )
    up.set_defaults(func=cmd_up)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    seed = sub.add_parser("seed-demo", help="load the demo district into an empty database")
    seed.add_argument("--seed", type=int, default=20261128)
    seed.set_defaults(func=cmd_seed_demo)
    api = sub.add_parser("api", help="run the HTTP/websocket API")
    api.add_argument("--port", type=int, default=0)
    api.add_argument("--host", default="")
    api.set_defaults(func=cmd_api)
    worker = sub.add_parser("worker", help="run an RQ worker")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.set_defaults(func=cmd_worker)
    scheduler = sub.add_parser("scheduler", help="run the periodic jobs (sweep, supervision)")
    scheduler.set_defaults(func=cmd_scheduler)
    register_admin(sub)
    register_calendar(sub)
    register_backup(sub)
    register_history(sub)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
