"""Local commands: ``python -m app serve | migrate | seed``."""

from __future__ import annotations

import argparse
import json
import sys


def migrate() -> None:
    from app.core.migrate import upgrade

    upgrade()


def seed() -> dict[str, dict[str, int]]:
    from app.core.config import get_settings
    from app.core.db import new_session
    from app.seed.service import run_seed

    with new_session() as session:
        return run_seed(session, get_settings())


def serve(host: str, port: int) -> None:
    """Migrate, seed and serve. ``--port 0`` takes a free port; the banner says which.

    Capacity is sized as one: the server admits MAX_CONCURRENT_REQUESTS requests at once (more
    wait briefly, then 503 + Retry-After), the threadpool has room for all of them (set at
    start-up) and the database pool holds one connection for each of them, each of the
    LOCAL_WORKERS job threads, the reaper and /health (app.core.db.pool_sizing).
    """
    import os
    import socket

    import uvicorn

    from app.core.config import get_settings
    from app.core.db import database_url, pool_sizing

    sock = socket.create_server((host, port), backlog=2048)
    port = sock.getsockname()[1]
    base = f"http://{host}:{port}"
    # Links to local files point at this server unless configured otherwise.
    os.environ.setdefault("PUBLIC_BASE_URL", base)
    get_settings.cache_clear()
    settings = get_settings()
    migrate()
    counts = seed()
    print(
        f"\n  Prompted-inpainting API ({settings.app_mode} mode)\n"
        f"  database : {database_url(settings).render_as_string(hide_password=True)}\n"
        f"  seeded   : {json.dumps(counts)}\n"
        f"  capacity : {settings.max_concurrent_requests} requests at once, {settings.local_workers} job workers, "
        f"{pool_sizing(settings)['pool_size']} database connections\n"
        f"  docs     : {base}/docs\n"
        f"  demo user: {settings.admin_email} / password from ADMIN_PASSWORD in {_env_path()}\n"
        f"  listening: {base}\n",
        flush=True,
    )
    config = uvicorn.Config("app.main:app", log_config=None, timeout_graceful_shutdown=10)
    uvicorn.Server(config).run(sockets=[sock])


def _env_path() -> str:
    import os

    return os.environ.get("ENV_PATH", "dev.env")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="migrate, seed, and serve the API locally")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    commands.add_parser("migrate", help="alembic upgrade head")
    commands.add_parser("seed", help="idempotent seed from app/seed/seed.json")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.host, args.port)
    elif args.command == "migrate":
        migrate()
    else:
        print(json.dumps(seed()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
