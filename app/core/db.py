"""The SQLAlchemy engine (built once per process) and sessions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from app.core.config import REPO_ROOT, Settings, get_settings
from app.core.secrets import database_password

# Stable constraint names keep alembic autogenerate and downgrades honest on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on PostgreSQL and SQLite alike (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def database_url(settings: Settings) -> URL:
    if settings.database_url:
        return make_url(settings.database_url)
    if settings.pg_host:
        return URL.create(
            "postgresql+psycopg2",
            username=settings.pg_user,
            password=database_password(settings),
            host=settings.pg_host,
            port=settings.pg_port,
            database=settings.pg_database,
        )
    path = Path(settings.sqlite_path)
    if not path.is_absolute():
        path = REPO_ROOT / path
    path.parent.mkdir(parents=True, exist_ok=True)
    return URL.create("sqlite", database=str(path))


def build_engine(settings: Settings) -> Engine:
    url = database_url(settings)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if settings.db_secret_arn:
        # Read the (cached, periodically refreshed) secret at each new connection, so a
        # rotated RDS master password does not lock out a warm container.
        engine = _pg_engine(url, settings)
        event.listen(engine, "do_connect", _connect_with_current_password(settings))
        return engine
    return _pg_engine(url, settings)


def _connect_with_current_password(settings: Settings) -> Any:
    """A ``do_connect`` hook: connect with the cached secret's password; when the server refuses
    it (the secret was rotated since it was cached), drop the cached value and retry once."""
    from app.core import aws

    def connect(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        cparams["password"] = database_password(settings)
        try:
            return dialect.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.OperationalError as exc:
            if "password authentication failed" not in str(exc) or not settings.db_secret_arn:
                raise
            aws.forget_secret(settings.db_secret_arn)
            cparams["password"] = database_password(settings)
            return dialect.connect(*cargs, **cparams)

    return connect


def _pg_engine(url: URL, settings: Settings) -> Engine:
    if settings.is_aws:
        # One Lambda container serves one request at a time: one connection is enough, and
        # a frozen container's stale connection is caught by the pre-ping.
        return create_engine(
            url,
            pool_size=1,
            max_overflow=0,
            pool_pre_ping=True,
            pool_recycle=300,
            connect_args={"connect_timeout": 5},
        )
    return create_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True, connect_args={"connect_timeout": 5})


_engine: Engine | None = None
_engine_lock = threading.Lock()
SessionLocal = sessionmaker(autoflush=False, expire_on_commit=False)


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                # Map every table before the first session: a worker that imported only the
                # jobs code must still flush rows whose foreign keys point at other domains.
                import app.core.models  # noqa: F401

                _engine = build_engine(get_settings())
                SessionLocal.configure(bind=_engine)
    return _engine


def new_session() -> Session:
    get_engine()
    return SessionLocal()


def get_session() -> Iterator[Session]:
    """FastAPI dependency: one session per request, closed afterwards."""
    with new_session() as session:
        yield session


def reset_engine() -> None:
    """Dispose of the engine so the next use builds one from the current settings."""
    global _engine
    with _engine_lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
