"""Which model a request uses, whether its user may use it, and atomic quota counting."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib.util import find_spec

from sqlalchemy import Select, TextClause, and_, bindparam, select, text
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
    return _choose(usable_models(session, settings, kind=kind), kind=kind, name=name)


def _choose(usable: list[MLModel], *, kind: str, name: str | None) -> MLModel:
    if name:
        for model in usable:
            if model.name == name:
                return model
        raise _unavailable(usable, kind=kind, name=name)
    if not usable:
        raise ModelUnavailable(f"no {kind} model is available")
    return usable[0]


def _unavailable(usable: list[MLModel], *, kind: str, name: str) -> ModelUnavailable:
    names = ", ".join(model.name for model in usable)
    return ModelUnavailable(f"unknown or unavailable {kind} model {name!r}; available: {names or 'none'}")


@dataclass(frozen=True)
class ModelChoice:
    """The model a request resolved to, with the policy that governs this user's use of it
    (their own, else everyone's; None: no policy, so no access)."""

    model: MLModel
    policy: AccessPolicy | None


def resolve_model_for(session: Session, settings: Settings, *, user: User, kind: str, name: str | None) -> ModelChoice:
    """``resolve_model`` and ``policy_for`` in one query (a submit's hot path): the usable
    models of the kind, each joined with its policies for this user and for everyone."""
    params = {"principals": [user.email, EVERYONE], "backends": sorted(available_backends(settings)), "kind": kind}
    if name:  # only that one; its absence is answered with the full list, below
        params["name"] = name
    rows = session.execute(_models_with_policies(named=bool(name)), params).all()
    if name and not rows:
        raise _unavailable(usable_models(session, settings, kind=kind), kind=kind, name=name)
    policies: dict[str, dict[str, AccessPolicy]] = {}
    usable: list[MLModel] = []
    for model, policy in rows:
        if model.name not in policies:
            policies[model.name] = {}
            usable.append(model)
        if policy is not None:
            policies[model.name][policy.principal] = policy
    chosen = _choose(usable, kind=kind, name=name)
    mine = policies[chosen.name]
    return ModelChoice(model=chosen, policy=mine.get(user.email) or mine.get(EVERYONE))


@lru_cache
def _models_with_policies(*, named: bool) -> Select[tuple[MLModel, AccessPolicy]]:
    """Built once, with bound parameters: building it costs more than running it."""
    query = (
        select(MLModel, AccessPolicy)
        .outerjoin(
            AccessPolicy,
            and_(
                AccessPolicy.model_name == MLModel.name,
                AccessPolicy.principal.in_(bindparam("principals", expanding=True)),
            ),
        )
        .where(
            MLModel.enabled.is_(True),
            MLModel.backend.in_(bindparam("backends", expanding=True)),
            MLModel.kind == bindparam("kind"),
        )
        .order_by(MLModel.kind, MLModel.is_default.desc(), MLModel.name)
    )
    return query.where(MLModel.name == bindparam("name")) if named else query


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
    return check_policy(policy_for(session, user=user, model_name=model_name), model_name=model_name)


def check_policy(policy: AccessPolicy | None, *, model_name: str) -> AccessPolicy:
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

    One conditional upsert bumps every counter (``... ON CONFLICT DO UPDATE ... WHERE count <
    limit RETURNING``): the database serialises concurrent submits on the counter rows, so no
    interleaving can pass a limit. Runs inside the caller's transaction, which also inserts
    the job: a refused submit (or a failed insert) counts nothing. Call it last before the
    commit: the counter rows stay locked until then, and every submit of this user waits.
    """
    limits = {"daily": policy.daily_quota, "monthly": policy.monthly_quota}
    periods = [(name, period, reset) for name, period, reset in _periods(now) if limits[name] is not None]
    counted = _increment_below(
        session,
        user=user,
        model_name=policy.model_name,
        limits={period: limit for name, period, _ in periods if (limit := limits[name] or 0) > 0},
    )
    for name, period, reset_seconds in periods:  # the first quota used up, daily before monthly
        if period not in counted:  # used up, or a limit of 0 (never counted)
            raise QuotaExceeded(period=name, limit=max(limits[name] or 0, 0), retry_after_seconds=reset_seconds)


def _increment_below(session: Session, *, user: User, model_name: str, limits: dict[str, int]) -> set[str]:
    """Bump each period's counter that is below its limit; returns the periods counted."""
    if not limits:
        return set()
    params: dict[str, object] = {"user_id": user.id, "model_name": model_name}
    for index, (period, limit) in enumerate(limits.items()):
        params[f"period_{index}"], params[f"limit_{index}"] = period, limit
    return set(session.scalars(_upsert_counters(len(limits)), params))


@lru_cache
def _upsert_counters(periods: int) -> TextClause:
    """``INSERT ... ON CONFLICT DO UPDATE ... WHERE count < limit RETURNING period`` for
    ``periods`` counters in one statement, the same SQL on PostgreSQL and SQLite. Text, not a
    Core ``insert().values([...])``: SQLAlchemy cannot cache a multi-row VALUES statement and
    compiled it again on every submit."""
    rows = ", ".join(f"(:user_id, :model_name, :period_{i}, 1)" for i in range(periods))
    limits = " ".join(f"WHEN :period_{i} THEN :limit_{i}" for i in range(periods))
    # Only numbered placeholders are formatted in: every value is a bound parameter.
    statement = text(
        f"INSERT INTO usage_counters (user_id, model_name, period, count) VALUES {rows} "  # noqa: S608
        "ON CONFLICT (user_id, model_name, period) DO UPDATE SET count = usage_counters.count + 1 "
        f"WHERE usage_counters.count < CASE usage_counters.period {limits} END RETURNING period"
    )
    return statement.bindparams(bindparam("user_id", type_=UsageCounter.__table__.c.user_id.type))
