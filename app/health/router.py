from __future__ import annotations

import logging

from fastapi import APIRouter, Response, status
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import SessionDep, SettingsDep

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


class Health(BaseModel):
    status: str
    database: str
    mode: str


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(session: SessionDep, settings: SettingsDep, response: Response) -> Health:
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError as exc:
        logger.warning("health: database unreachable", extra={"error": type(exc).__name__})
        database = "unreachable"
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if database == "ok" else "degraded", database=database, mode=settings.app_mode)
