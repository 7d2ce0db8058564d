"""Pooled PostgreSQL connections: pinged before reuse only after sitting idle."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from app.core import db as db_module
from app.core.config import Settings


@pytest.fixture
def pg_engine(database_url: str):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite connections are files, not sockets")
    engine = db_module._pg_engine(db_module.make_url(database_url), Settings(database_url=database_url))
    yield engine
    engine.dispose()


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(database_url: str, pid: int) -> None:
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    admin.dispose()


def test_a_connection_dropped_while_idle_is_replaced_by_the_ping(pg_engine, database_url, monkeypatch):
    first = _backend_pid(pg_engine)
    _kill(database_url, first)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has been idle "long enough"
    assert _backend_pid(pg_engine) != first  # the ping failed, the pool opened a new connection


def test_without_the_ping_a_dropped_connection_fails_once_then_the_pool_recovers(pg_engine, database_url, monkeypatch):
    from sqlalchemy.exc import OperationalError

    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 60.0)  # back to back: no ping
    first = _backend_pid(pg_engine)
    _kill(database_url, first)
    with pytest.raises(OperationalError) as caught:
        _backend_pid(pg_engine)
    assert db_module.is_database_unavailable(caught.value)  # answered 503, not 500
    assert _backend_pid(pg_engine) != first


def test_connections_skip_the_gssapi_attempt(pg_engine):
    with pg_engine.connect() as connection:
        dsn = connection.connection.dbapi_connection.get_dsn_parameters()
    assert dsn.get("gssencmode") == "disable"
