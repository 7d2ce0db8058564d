"""Which model a request uses, whether its user may use it, and atomic quota counting."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.util import find_spec

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import AccessPolicy, MLModel, UsageCounter
from app.core.config import Settings
from app.users.models import User

EVERYONE = "*"


class ModelUnavailable(Exception):
    """No enabled model of that name and kind (→ 422)."""


class AccessDenied(Exception):
    """No access policy lets this user use this model (→ 403)."""


@dataclass
class QuotaExceeded(Exception):
    """A daily or monthly quota is used up (→ 429 with Retry-After)."""

    period: str
    limit: int
    retry_after_seconds: int

    def __str__(self) -> str:
        return f"{self.period} quota of {self.limit} submissions for this model is used up"


def available_backends(settings: Settings) -> set[str]:
    """Backends this deployment can run: the embedded ones always, the cloud ones when configured."""
    backends = {"opencv", "opencv-fill", "opencv-locator"}
    if settings.hf_endpoint_url or settings.hf_endpoint_name:  # a name alone: the URL comes from the Hub
        backends.add("hf-endpoint")
    if settings.locator_cluster and settings.locator_task_definition:
        backends.add("detectron2")
    elif not settings.is_aws and settings.locator_weights_uri and find_spec("detectron2") is not None:
        backends.add("detectron2")  # local mode with the real model, in-process (docs/locator.md)
    return backends


def usable_models(session: Session, settings: Settings, *, kind: str | None = None) -> list[MLModel]:
    query = select(MLModel).where(MLModel.enabled.is_(True), MLModel.backend.in_(sorted(available_backends(settings))))
    if kind:
        query = query.where(MLModel.kind == kind)
    return list(session.scalars(query.order_by(MLModel.kind, MLModel.is_default.desc(), MLModel.name)))


def resolve_model(session: Session, settings: Settings, *, kind: str, name: str | None) -> MLModel:
    """The named model, or the kind's default among the models this deployment can run."""
    usable = usable_models(session, settings, kind=kind)
    if name:
        for model in usable:
            if model.name == name:
                return model
        names = ", ".join(model.name for model in usable)
        raise ModelUnavailable(f"unknown or unavailable {kind} model {name!r}; available: {names or 'none'}")
    if not usable:
        raise ModelUnavailable(f"no {kind} model is available")
    return usable[0]


def policy_for(session: Session, *, user: User, model_name: str) -> AccessPolicy | None:
    """The user's own policy for the model, else the one for everyone."""
    policies = {
        policy.principal: policy
        for policy in session.scalars(
            select(AccessPolicy).where(
                AccessPolicy.model_name == model_name, AccessPolicy.principal.in_([user.email, EVERYONE])
            )
        )
    }
    return policies.get(user.email) or policies.get(EVERYONE)


def check_access(session: Session, *, user: User, model_name: str) -> AccessPolicy:
    policy = policy_for(session, user=user, model_name=model_name)
    if policy is None or not policy.enabled:
        raise AccessDenied(f"you have no access to model {model_name!r}")
    return policy


def _periods(now: datetime) -> list[tuple[str, str, int]]:
    """(name, period key, seconds until it resets) for today and this month, in UTC."""
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    days_in_month = calendar.monthrange(now.year, now.month)[1]
    next_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=days_in_month)
    return [
        ("daily", f"day:{now:%Y-%m-%d}", int((tomorrow - now).total_seconds()) + 1),
        ("monthly", f"month:{now:%Y-%m}", int((next_month - now).total_seconds()) + 1),
    ]


def consume_quota(session: Session, *, user: User, policy: AccessPolicy, now: datetime) -> None:
    """Count one submission against the policy's quotas, atomically.

    Each counter is bumped by one conditional upsert (``... ON CONFLICT DO UPDATE ... WHERE
    count < limit RETURNING``): the database serialises concurrent submits on the counter row,
    so no interleaving can pass the limit. Runs inside the caller's transaction, which also
    inserts the job: a refused submit (or a failed insert) counts nothing.
    """
    limits = {"daily": policy.daily_quota, "monthly": policy.monthly_quota}
    for name, period, reset_seconds in _periods(now):
        limit = limits[name]
        if limit is None:
            continue
        if limit <= 0 or not _increment_below(
            session, user=user, model_name=policy.model_name, period=period, limit=limit
        ):
            raise QuotaExceeded(period=name, limit=max(limit, 0), retry_after_seconds=reset_seconds)


def _increment_below(session: Session, *, user: User, model_name: str, period: str, limit: int) -> bool:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(UsageCounter).values(user_id=user.id, model_name=model_name, period=period, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=[UsageCounter.user_id, UsageCounter.model_name, UsageCounter.period],
        set_={"count": UsageCounter.count + 1},
        where=UsageCounter.count < limit,
    ).returning(UsageCounter.count)
    return session.execute(statement).first() is not None
