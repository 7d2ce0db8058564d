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
    import os

    import uvicorn

    from app.core.config import get_settings
    from app.core.db import database_url

    # Links to local files point at this server unless configured otherwise.
    os.environ.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    get_settings.cache_clear()
    settings = get_settings()
    migrate()
    counts = seed()
    base = f"http://{host}:{port}"
    print(
        f"\n  Prompted-inpainting API ({settings.app_mode} mode)\n"
        f"  database : {database_url(settings).render_as_string(hide_password=True)}\n"
        f"  seeded   : {json.dumps(counts)}\n"
        f"  docs     : {base}/docs\n"
        f"  demo user: {settings.admin_email} / password from ADMIN_PASSWORD in {_env_path()}\n",
        flush=True,
    )
    uvicorn.run("app.main:app", host=host, port=port, log_config=None)


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
