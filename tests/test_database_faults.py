"""A database that cannot be reached answers 503 + Retry-After, whatever route meets it; any
other database error is a 500 with the request id. (Answered by DatabaseFaultMiddleware, so the
API handler need not import SQLAlchemy before a request uses the database.)"""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc


def _app_raising(error: Exception):
    from fastapi.testclient import TestClient

    from app.main import create_app

    app = create_app()

    @app.get("/fails")
    def fails() -> None:
        raise error

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    "error",
    [
        sa_exc.OperationalError("SELECT 1", {}, Exception("connection refused")),
        sa_exc.TimeoutError("QueuePool limit of size 1 overflow 0 reached"),
        sa_exc.InterfaceError("SELECT 1", {}, Exception("connection already closed")),
    ],
    ids=["unreachable", "no-free-connection", "closed"],
)
def test_an_unreachable_database_is_503_with_retry_after(db, error) -> None:
    response = _app_raising(error).get("/fails", headers={"X-Request-ID": "req-db"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json() == {"detail": "the database is unavailable: retry shortly", "request_id": "req-db"}


def test_another_database_error_is_a_500_with_the_request_id(db) -> None:
    error = sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
    response = _app_raising(error).get("/fails", headers={"X-Request-ID": "req-int"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "request_id": "req-int"}
