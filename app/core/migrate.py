"""Run alembic migrations from code (seeder Lambda, local server, tests). Alembic loads lazily."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from app.core.config import REPO_ROOT


def alembic_config(connection: Any | None = None) -> Any:
    from alembic.config import Config

    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(revision: str = "head") -> None:
    from alembic import command

    from app.core.db import get_engine

    with get_engine().begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(revision: str) -> None:
    from alembic import command

    from app.core.db import get_engine

    with get_engine().begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def current_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def prepare_local_database() -> None:
    """Migrate and seed once per process, under a file lock so that several processes
    starting together (sam local containers, uvicorn workers) do it one at a time."""
    import fcntl

    from app.core.config import get_settings
    from app.core.db import new_session
    from app.seed.service import run_seed

    settings = get_settings()
    lock_path = REPO_ROOT / "data" / ".migrate.lock"
    if not lock_path.parent.is_dir() or not os.access(lock_path.parent, os.W_OK):
        lock_path = Path(tempfile.gettempdir()) / "inpaint-migrate.lock"  # Lambda: only /tmp is writable
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        upgrade()
        with new_session() as session:
            run_seed(session, settings)
