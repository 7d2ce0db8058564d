from __future__ import annotations

from fastapi import APIRouter, Query

from app.api.deps import CurrentUser, SessionDep, SettingsDep
from app.catalog import service
from app.catalog.models import MLModel
from app.catalog.schemas import ModelPublic

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=list[ModelPublic])
def list_models(
    session: SessionDep,
    settings: SettingsDep,
    _user: CurrentUser,
    kind: str | None = Query(None, pattern="^(inpaint|locate)$"),
) -> list[MLModel]:
    """The models this deployment can run; a job names one with `model`, or gets its kind's
    default (listed first)."""
    return service.usable_models(session, settings, kind=kind)
