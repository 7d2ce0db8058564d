from __future__ import annotations

from fastapi import APIRouter, Query

from app.api.deps import CurrentUser, SessionDep, SettingsDep
from app.catalog import service
from app.catalog.schemas import ModelPublic

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=list[ModelPublic])
def list_models(
    session: SessionDep,
    settings: SettingsDep,
    _user: CurrentUser,
    kind: str | None = Query(None, pattern="^(inpaint|locate)$"),
) -> list[ModelPublic]:
    """The models this deployment can run; a job names one with `model`, or gets its kind's
    default (listed first)."""
    models = service.usable_models(session, settings, kind=kind)
    # `is_default`: the model a job of its kind gets here when it names none (the first
    # usable one), not the catalogue's flag, which may name a backend this deployment lacks.
    defaults = {}
    for model in models:
        defaults.setdefault(model.kind, model.name)
    return [
        ModelPublic.model_validate(model).model_copy(update={"is_default": defaults[model.kind] == model.name})
        for model in models
    ]
