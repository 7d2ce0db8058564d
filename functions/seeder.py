"""Seeder Lambda: optionally migrate (``{"migrate": true}``), then seed idempotently.

Runs inside the VPC, so the database never has to be opened to the internet to migrate.
"""

from __future__ import annotations

import logging
from typing import Any

from app.core.config import get_settings
from app.core.db import new_session
from app.core.logging import configure_logging

logger = logging.getLogger(__name__)


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    settings = get_settings()
    configure_logging(settings.log_level)
    event = event or {}
    from app.core import aws

    aws.forget_secrets()  # a warm container must see a rotated admin password
    try:
        if event.get("migrate"):
            from app.core.migrate import upgrade

            upgrade()
        from app.seed.service import run_seed

        with new_session() as session:
            counts = run_seed(session, settings)
    except Exception as exc:
        logger.exception("seeding failed")
        return {"statusCode": 500, "body": {"error": f"{type(exc).__name__}: {exc}"}}
    logger.info("seeded", extra={"counts": counts})
    return {"statusCode": 200, "body": counts}
