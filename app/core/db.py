"""The SQLAlchemy engine (built once per process) and sessions."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import QueuePool
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


def pool_sizing(settings: Settings) -> dict[str, Any]:
    """One connection per request the server admits at once, per local job worker, plus two
    (the reaper, /health), so no admitted request ever waits for a connection. A Lambda
    container serves one request at a time: one connection."""
    if settings.db_pool_size is not None:
        size = settings.db_pool_size
    elif settings.is_aws:
        size = 1
    else:
        size = settings.max_concurrent_requests + settings.local_workers + 2
    overflow = settings.db_max_overflow if settings.db_max_overflow is not None else 0
    return {"pool_size": size, "max_overflow": overflow, "pool_timeout": settings.db_pool_timeout}


def build_engine(settings: Settings) -> Engine:
    url = database_url(settings)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, poolclass=QueuePool, **pool_sizing(settings)
        )

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


# A pooled connection idle this long is pinged before reuse: it may belong to a Lambda
# container that was frozen, or have been dropped by a restarted PostgreSQL. Back-to-back
# requests skip the round trip (pool_pre_ping would pay it on every checkout); a connection
# that dies within the window fails one statement, which invalidates the pool (503, retried).
PING_AFTER_IDLE_SECONDS = 2.0


def _pg_engine(url: URL, settings: Settings) -> Engine:
    # gssencmode=disable: libpq is built with Kerberos, and by default it first tries a GSSAPI-
    # encrypted session, loading Kerberos' configuration and credential cache on every connect
    # (~0.8 MB of a cold container's memory). Neither RDS nor the local server uses Kerberos.
    engine = create_engine(
        url,
        pool_recycle=300,
        connect_args={"connect_timeout": 5, "gssencmode": "disable"},
        **pool_sizing(settings),
    )
    event.listen(engine, "checkin", _mark_idle)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _mark_idle(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    idle_since = record.info.pop("idle_since", None)
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    from sqlalchemy import exc as sa_exc

    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()
    except Exception as exc:  # psycopg2's errors: the connection is gone
        # The pool drops this connection and checks out (or opens) another.
        raise sa_exc.DisconnectionError(str(exc)) from exc


def is_database_unavailable(exc: BaseException) -> bool:
    """A database that cannot be reached or a pool with no free connection: worth retrying
    later, never a client's fault and never a 500."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.TimeoutError | sa_exc.OperationalError | sa_exc.InterfaceError):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


_engine: Engine | None = None
_engine_lock = threading.Lock()
SessionLocal = sessionmaker(autoflush=False, expire_on_commit=False)


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = build_engine(get_settings())
                SessionLocal.configure(bind=_engine)
    return _engine


def new_session() -> Session:
    # Map every table before the first session: a worker that imported only the jobs code must
    # still flush rows whose foreign keys point at other domains. (Core statements on a bare
    # connection need no mapping: the polled read does without.)
    import app.core.models  # noqa: F401

    get_engine()
    return SessionLocal()


AUTOCOMMIT = "AUTOCOMMIT"


@contextmanager
def autocommit_session() -> Iterator[Session]:
    """A session for a request path made only of single-statement reads and writes (each
    write one atomic statement): on PostgreSQL its connection autocommits, so no BEGIN and
    COMMIT round trips surround the statements and no lock outlives the statement that took
    it. On SQLite an ordinary session: there a write may span statements of one transaction."""
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        with new_session() as session:
            yield session
        return
    import app.core.models  # noqa: F401  (as new_session: every table mapped before a flush)

    with engine.connect() as connection:
        connection.execution_options(isolation_level=AUTOCOMMIT)  # reset when it goes back to the pool
        with SessionLocal(bind=connection) as session:
            yield session


def _autocommit_bind(session: Session) -> Connection | None:
    bind = session.get_bind()
    if isinstance(bind, Connection) and bind.get_execution_options().get("isolation_level") == AUTOCOMMIT:
        return bind
    return None


def statement_connection(session: Session) -> Connection:
    """Where to run a Core statement of the session's request: an ``autocommit_session``'s own
    connection directly (no ORM transaction to begin and end around it), else the session's."""
    return _autocommit_bind(session) or session.connection()


@contextmanager
def autocommit_connection(session: Session) -> Iterator[Connection]:
    """A connection whose every statement commits on its own: the session's own when it is an
    ``autocommit_session``, else one from the pool for the block (end the session's
    transaction first, so that one connection is enough)."""
    bind = _autocommit_bind(session)
    if bind is not None:
        yield bind
        return
    with get_engine().connect() as connection:
        yield connection.execution_options(isolation_level=AUTOCOMMIT)


async def get_session() -> AsyncIterator[Session]:
    """FastAPI dependency: one session per request, closed afterwards.

    Async on purpose: opening a session does no I/O (the connection is taken on first use, in
    the threadpool call that uses it), and a sync generator would cost two threadpool hops per
    request. Closing only returns a connection still checked out, which the routes' commits
    have normally done already."""
    with new_session() as session:
        yield session


def reset_engine() -> None:
    """Dispose of the engine so the next use builds one from the current settings."""
    global _engine
    with _engine_lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
