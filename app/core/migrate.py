"""Run alembic migrations from code (seeder Lambda, local server, tests). Alembic loads lazily."""

from __future__ import annotations

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
