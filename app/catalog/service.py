"""Which model a request uses, whether its user may use it, and atomic quota counting."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib.util import find_spec
from typing import Any, Protocol

from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.orm import Session

from app.catalog.models import AccessPolicy, MLModel, UsageCounter
from app.core.config import Settings

EVERYONE = "*"


class Principal(Protocol):
    """Who submits: a ``User`` row, or the two columns of it a submit reads."""

    @property
    def id(self) -> Any: ...  # uuid.UUID
    @property
    def email(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ModelRef:
    """What a submit needs of a ``models`` row, read with Core (no ORM object to build)."""

    name: str
    backend: str
    defaults: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """What a submit needs of an ``access_policies`` row."""

    principal: str
    model_name: str
    daily_quota: int | None
    monthly_quota: int | None
    enabled: bool


Model = MLModel | ModelRef
Policy = AccessPolicy | PolicyRef


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


def _choose(usable: Sequence[Model], *, kind: str, name: str | None) -> Model:
    if name:
        for model in usable:
            if model.name == name:
                return model
        raise _unavailable(usable, kind=kind, name=name)
    if not usable:
        raise ModelUnavailable(f"no {kind} model is available")
    return usable[0]


def _unavailable(usable: Sequence[Model], *, kind: str, name: str) -> ModelUnavailable:
    names = ", ".join(model.name for model in usable)
    return ModelUnavailable(f"unknown or unavailable {kind} model {name!r}; available: {names or 'none'}")


@dataclass(frozen=True)
class ModelChoice:
    """The model a request resolved to, with the policy that governs this user's use of it
    (their own, else everyone's; None: no policy, so no access)."""

    model: Model
    policy: Policy | None


def choose_with_policies(
    rows: Sequence[tuple[Model, Policy | None]], *, principal: str, kind: str, name: str | None
) -> ModelChoice | None:
    """The model a request resolves to among ``rows`` (the usable models of the kind, in
    catalogue order, each with its policies for ``principal`` and for everyone), with the
    policy that governs it. None when a named model is not among them: the caller answers
    with the full list. Raises ``ModelUnavailable`` when the kind has no usable model."""
    if name and not rows:
        return None
    policies: dict[str, dict[str, Policy]] = {}
    usable: list[Model] = []
    for model, policy in rows:
        if model.name not in policies:
            policies[model.name] = {}
            usable.append(model)
        if policy is not None:
            policies[model.name][policy.principal] = policy
    chosen = _choose(usable, kind=kind, name=name)
    mine = policies[chosen.name]
    return ModelChoice(model=chosen, policy=mine.get(principal) or mine.get(EVERYONE))


def unavailable(session: Session, settings: Settings, *, kind: str, name: str) -> ModelUnavailable:
    """The 422 for a named model that is not usable, listing the ones that are."""
    return _unavailable(usable_models(session, settings, kind=kind), kind=kind, name=name)


def policy_for(session: Session, *, user: Principal, model_name: str) -> AccessPolicy | None:
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


def check_access(session: Session, *, user: Principal, model_name: str) -> Policy:
    return check_policy(policy_for(session, user=user, model_name=model_name), model_name=model_name)


def check_policy(policy: Policy | None, *, model_name: str) -> Policy:
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


@dataclass(frozen=True)
class QuotaPlan:
    """One submission's quota check: each period the policy limits, daily before monthly."""

    model_name: str
    periods: list[tuple[str, str, int, int]]  # (name, period key, limit, seconds until it resets)

    @property
    def limits(self) -> dict[str, int]:
        """The counters to bump, by period key: a limit of 0 (or less) is never counted."""
        return {period: limit for _, period, limit, _ in self.periods if limit > 0}

    def refusal(self, counted: set[str]) -> QuotaExceeded | None:
        """The first quota used up, given the periods that were counted; None: all were."""
        for name, period, limit, reset_seconds in self.periods:
            if period not in counted:  # used up, or a limit of 0 (never counted)
                return QuotaExceeded(period=name, limit=max(limit, 0), retry_after_seconds=reset_seconds)
        return None

    def counter_params(self, user_id: Any) -> dict[str, Any]:
        """The bound values of ``counter_upsert_sql(len(self.limits))``."""
        params: dict[str, Any] = {"user_id": user_id, "model_name": self.model_name}
        for index, (period, limit) in enumerate(self.limits.items()):
            params[f"period_{index}"], params[f"limit_{index}"] = period, limit
        return params


def plan_quota(policy: Policy, now: datetime) -> QuotaPlan:
    limits = {"daily": policy.daily_quota, "monthly": policy.monthly_quota}
    return QuotaPlan(
        model_name=policy.model_name,
        periods=[
            (name, period, limit, reset) for name, period, reset in _periods(now) if (limit := limits[name]) is not None
        ],
    )


def consume_quota(session: Session, *, user: Principal, policy: Policy, now: datetime) -> None:
    """Count one submission against the policy's quotas, atomically.

    One conditional upsert bumps every counter (``... ON CONFLICT DO UPDATE ... WHERE count <
    limit RETURNING``): the database serialises concurrent submits on the counter rows, so no
    interleaving can pass a limit. Runs inside the caller's transaction, which also inserts
    the job: a refused submit (or a failed insert) counts nothing. Call it last before the
    commit: the counter rows stay locked until then, and every submit of this user waits.
    (On PostgreSQL the submit path uses ``counter_upsert_sql`` inside its one write statement
    instead: see ``app.jobs.submit``.)
    """
    plan = plan_quota(policy, now)
    counted: set[str] = set()
    if plan.limits:
        # On the connection, not through the ORM session: a text statement gains nothing from it.
        statement = _upsert_counters(len(plan.limits))
        counted = set(session.connection().scalars(statement, plan.counter_params(user.id)))
    refused = plan.refusal(counted)
    if refused is not None:
        raise refused


def uncount(connection: Any, *, user_id: Any, model_name: str, periods: set[str]) -> None:
    """Take back one submission from ``periods``' counters: a statement that bumped some
    counters but was refused by another (its job was not inserted) must count nothing."""
    if periods:
        connection.execute(
            _uncount_statement(),
            {"user_id": user_id, "model_name": model_name, "periods": sorted(periods)},
        )


@lru_cache
def _uncount_statement() -> TextClause:
    return text(
        "UPDATE usage_counters SET count = count - 1 "
        "WHERE user_id = :user_id AND model_name = :model_name AND period IN :periods"
    ).bindparams(
        bindparam("user_id", type_=UsageCounter.__table__.c.user_id.type),
        bindparam("periods", expanding=True),
    )


def counter_upsert_sql(periods: int) -> str:
    """``INSERT ... ON CONFLICT DO UPDATE ... WHERE count < limit RETURNING period`` for
    ``periods`` counters, as SQL text with the placeholders of ``QuotaPlan.counter_params``
    (``user_id`` is a UUID: bind it with the column's type)."""
    rows = ", ".join(f"(:user_id, :model_name, :period_{i}, 1)" for i in range(periods))
    limits = " ".join(f"WHEN :period_{i} THEN :limit_{i}" for i in range(periods))
    # Only numbered placeholders are formatted in: every value is a bound parameter.
    return (
        f"INSERT INTO usage_counters (user_id, model_name, period, count) VALUES {rows} "  # noqa: S608
        "ON CONFLICT (user_id, model_name, period) DO UPDATE SET count = usage_counters.count + 1 "
        f"WHERE usage_counters.count < CASE usage_counters.period {limits} END RETURNING period"
    )


def counter_user_id_type() -> Any:
    return UsageCounter.__table__.c.user_id.type


@lru_cache
def _upsert_counters(periods: int) -> TextClause:
    """``counter_upsert_sql`` as a statement, the same SQL on PostgreSQL and SQLite. Text, not a
    Core ``insert().values([...])``: SQLAlchemy cannot cache a multi-row VALUES statement and
    compiled it again on every submit."""
    return text(counter_upsert_sql(periods)).bindparams(bindparam("user_id", type_=counter_user_id_type()))
