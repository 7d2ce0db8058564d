"""What a job submit about an image reads before it writes anything, in one statement.

A submit needs the caller (still active?), their image, and the usable models of the job's
kind with the caller's policies for them. Read through the ORM those were three round trips
and most of a submit's CPU; here one prebuilt Core statement returns them together, as
plain values.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from app.catalog import service as catalog
from app.catalog.models import AccessPolicy, MLModel
from app.core.config import Settings
from app.core.db import statement_connection
from app.images.models import Image
from app.users.models import User


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user, as far as a submit needs them (a ``catalog.Principal``)."""

    id: uuid.UUID
    email: str


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """The caller's image, as far as a submit needs it."""

    id: uuid.UUID
    status: str
    width: int | None
    height: int | None
    sha256: str | None


@dataclass(frozen=True, slots=True)
class SubmitContext:
    caller: Caller
    image: ImageFacts | None  # None: no such image, or not the caller's
    # The usable models of the kind in catalogue order, each with the caller's and everyone's
    # policies (one row per policy, or one with None).
    models: list[tuple[catalog.ModelRef, catalog.PolicyRef | None]]


def load_submit_context(
    session: Session, settings: Settings, *, user_id: uuid.UUID, image_id: uuid.UUID, kind: str, name: str | None
) -> SubmitContext | None:
    """One statement on the session's connection; None when there is no active user ``user_id``
    (a 401 for the caller: the token outlived its user)."""
    params: dict[str, Any] = {"user_id": user_id, "image_id": image_id, "kind": kind}
    if name:
        params["name"] = name
    rows = statement_connection(session).execute(_statement(named=bool(name)), params).all()
    # Models this deployment cannot run are dropped here, not in SQL: an expanding IN is
    # rendered again on every execution.
    backends = catalog.available_backends(settings)
    if not rows or not rows[0].user_is_active:
        return None
    first = rows[0]
    image = None
    if first.image_id is not None:
        image = ImageFacts(
            id=first.image_id,
            status=first.image_status,
            width=first.image_width,
            height=first.image_height,
            sha256=first.image_sha256,
        )
    models: list[tuple[catalog.ModelRef, catalog.PolicyRef | None]] = []
    for row in rows:
        if row.model_name is None or row.model_backend not in backends:
            continue  # no model of the kind (the one row only carries the user and image), or not here
        model = catalog.ModelRef(name=row.model_name, backend=row.model_backend, defaults=row.model_defaults)
        policy = None
        if row.policy_principal is not None:
            policy = catalog.PolicyRef(
                principal=row.policy_principal,
                model_name=row.model_name,
                daily_quota=row.policy_daily_quota,
                monthly_quota=row.policy_monthly_quota,
                enabled=row.policy_enabled,
            )
        models.append((model, policy))
    return SubmitContext(caller=Caller(id=first.user_id, email=first.user_email), image=image, models=models)


def choose_model(
    context: SubmitContext, session: Session, settings: Settings, *, kind: str, name: str | None
) -> catalog.ModelChoice:
    """The model and the caller's policy for it, chosen by the catalogue's rules (the named
    model, else the kind's default); ``catalog.ModelUnavailable`` when there is none."""
    choice = catalog.choose_with_policies(context.models, principal=context.caller.email, kind=kind, name=name)
    if choice is None:
        raise catalog.unavailable(session, settings, kind=kind, name=name or "")
    return choice


@cache
def _statement(*, named: bool) -> Select[Any]:
    """Built once per shape, with bound parameters: building it costs more than running it.

    The user's row, left-joined with their image and with every enabled model of the kind (and
    each model with the user's and everyone's policies): one row per (model, policy), or one
    row with only the user (and image) when no model is usable."""
    users, images = User.__table__, Image.__table__
    models, policies = MLModel.__table__, AccessPolicy.__table__
    usable = and_(models.c.enabled.is_(True), models.c.kind == bindparam("kind"))
    if named:
        usable = and_(usable, models.c.name == bindparam("name"))
    joined = (
        users.outerjoin(images, and_(images.c.id == bindparam("image_id"), images.c.owner_id == users.c.id))
        .outerjoin(models, usable)
        .outerjoin(
            policies,
            and_(
                policies.c.model_name == models.c.name,
                or_(policies.c.principal == users.c.email, policies.c.principal == catalog.EVERYONE),
            ),
        )
    )
    return (
        select(
            users.c.id.label("user_id"),
            users.c.email.label("user_email"),
            users.c.is_active.label("user_is_active"),
            images.c.id.label("image_id"),
            images.c.status.label("image_status"),
            images.c.width.label("image_width"),
            images.c.height.label("image_height"),
            images.c.sha256.label("image_sha256"),
            models.c.name.label("model_name"),
            models.c.backend.label("model_backend"),
            models.c.defaults.label("model_defaults"),
            policies.c.principal.label("policy_principal"),
            policies.c.daily_quota.label("policy_daily_quota"),
            policies.c.monthly_quota.label("policy_monthly_quota"),
            policies.c.enabled.label("policy_enabled"),
        )
        .select_from(joined)
        .where(users.c.id == bindparam("user_id"))
        .order_by(models.c.kind, models.c.is_default.desc(), models.c.name)
    )
