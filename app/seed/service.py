"""Idempotent seeding from the versioned seed file ``app/seed/seed.json``.

Every table is upserted by its natural key in ONE transaction: a second run changes nothing
and reports every row unchanged; a failure part-way leaves the database as it was.
``${ADMIN_EMAIL}`` / ``${ADMIN_PASSWORD}`` placeholders are filled from Settings (the password
from Secrets Manager in AWS) — plain substitution of two known names, nothing is evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import AccessPolicy, MLModel
from app.core.config import Settings
from app.core.secrets import admin_password
from app.core.security import hash_password, verify_password
from app.users.models import User
from app.users.service import get_user_by_email, normalise_email

SEED_FILE = Path(__file__).with_name("seed.json")


class SeedError(Exception):
    pass


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class SeedContext:
    session: Session
    settings: Settings
    counts: dict[str, Counts] = field(default_factory=dict)

    def count(self, table: str) -> Counts:
        return self.counts.setdefault(table, Counts())


def apply_fields(row: Any, values: dict[str, Any]) -> bool:
    """Set the attributes that differ; True when anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def seed_users(ctx: SeedContext, rows: list[dict[str, Any]]) -> None:
    counts = ctx.count("users")
    for spec in rows:
        email = normalise_email(spec["email"])
        password = spec.get("password")
        if not password:
            raise SeedError(f"no password for seeded user {email} (set ADMIN_PASSWORD or ADMIN_PASSWORD_SECRET_ARN)")
        wanted = {"full_name": spec.get("full_name"), "is_admin": bool(spec.get("is_admin")), "is_active": True}
        user = get_user_by_email(ctx.session, email=email)
        if user is None:
            ctx.session.add(User(email=email, hashed_password=hash_password(password), **wanted))
            counts.created += 1
            continue
        changed = apply_fields(user, wanted)
        if not verify_password(password, user.hashed_password):
            user.hashed_password = hash_password(password)  # the secret was rotated
            changed = True
        if changed:
            counts.updated += 1
        else:
            counts.unchanged += 1


def upsert_by(
    ctx: SeedContext, table: str, model: type[Any], key_fields: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    """Insert rows that are missing, update those that differ, by their natural key."""
    counts = ctx.count(table)
    for spec in rows:
        key = {name: spec[name] for name in key_fields}
        row = ctx.session.scalar(select(model).filter_by(**key))
        if row is None:
            ctx.session.add(model(**spec))
            counts.created += 1
        elif apply_fields(row, {name: value for name, value in spec.items() if name not in key_fields}):
            counts.updated += 1
        else:
            counts.unchanged += 1


def seed_models(ctx: SeedContext, rows: list[dict[str, Any]]) -> None:
    upsert_by(ctx, "models", MLModel, ("name",), rows)


def seed_access_policies(ctx: SeedContext, rows: list[dict[str, Any]]) -> None:
    upsert_by(ctx, "access_policies", AccessPolicy, ("principal", "model_name"), rows)


# Table name → seeder, applied in this order.
SEEDERS: dict[str, Callable[[SeedContext, list[dict[str, Any]]], None]] = {
    "users": seed_users,
    "models": seed_models,
    "access_policies": seed_access_policies,
}


def load_seed_file(settings: Settings, path: Path = SEED_FILE) -> dict[str, Any]:
    text = path.read_text()
    password = admin_password(settings) or ""
    text = text.replace("${ADMIN_EMAIL}", json.dumps(settings.admin_email)[1:-1])
    text = text.replace("${ADMIN_PASSWORD}", json.dumps(password)[1:-1])
    return json.loads(text)


def run_seed(session: Session, settings: Settings, document: dict[str, Any] | None = None) -> dict[str, dict[str, int]]:
    document = document if document is not None else load_seed_file(settings)
    ctx = SeedContext(session=session, settings=settings)
    try:
        for table, seeder in SEEDERS.items():
            seeder(ctx, document.get(table, []))
            session.flush()
        session.commit()
    except Exception:
        session.rollback()
        raise
    return {table: counts.as_dict() for table, counts in ctx.counts.items()}
