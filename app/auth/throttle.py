"""Login throttling per account and per client, with the state in the database.

A key (account or client) that collects too many failed logins within a window is blocked
for a while: every login for it is answered 429 with ``Retry-After`` before any password is
hashed, even a correct one. A successful login clears its account's count. Keys are hashed:
the table holds no email addresses or IP addresses.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.models import LoginThrottle
from app.core.config import Settings


@dataclass(frozen=True)
class ThrottleKey:
    key: str
    max_failures: int


def login_keys(settings: Settings, *, email: str, client: str | None) -> list[ThrottleKey]:
    keys = [ThrottleKey(_digest(f"account:{email.strip().lower()}"), settings.login_max_failures_per_account)]
    if client:
        keys.append(ThrottleKey(_digest(f"client:{client}"), settings.login_max_failures_per_client))
    return keys


def retry_after(session: Session, keys: list[ThrottleKey], *, now: datetime) -> int | None:
    """Seconds until the longest block among ``keys`` ends, or None when none is blocked."""
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_([k.key for k in keys])))
    waits = [(row.blocked_until - now).total_seconds() for row in rows if row.blocked_until and row.blocked_until > now]
    return max(1, math.ceil(max(waits))) if waits else None


def record_failure(session: Session, settings: Settings, keys: list[ThrottleKey], *, now: datetime) -> None:
    """Count a failed login against every key (the caller commits)."""
    window = timedelta(seconds=settings.login_failure_window_seconds)
    for throttle_key in keys:
        row = _locked_row(session, throttle_key.key, now=now)
        if now - row.window_started_at > window:
            row.failures, row.window_started_at, row.blocked_until = 0, now, None
        row.failures += 1
        if row.failures >= throttle_key.max_failures:
            row.blocked_until = now + timedelta(seconds=settings.login_lockout_seconds)
            row.failures, row.window_started_at = 0, now  # the next window starts after the block


def record_success(session: Session, keys: list[ThrottleKey]) -> None:
    """A correct password clears its account's count (not the client's)."""
    row = session.get(LoginThrottle, keys[0].key)
    if row is not None and row.blocked_until is None:
        session.delete(row)


def _locked_row(session: Session, key: str, *, now: datetime) -> LoginThrottle:
    """The key's row, locked for this transaction (PostgreSQL), created if missing."""
    query = select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
    row = session.scalar(query)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = LoginThrottle(key=key, failures=0, window_started_at=now)
            session.add(row)
    except IntegrityError:  # a concurrent login created it first
        row = session.scalar(query)
        assert row is not None
    return row


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
