"""Test set-up: every database test runs on SQLite and on a real PostgreSQL.

PostgreSQL is found at ``TEST_PG_URL`` (default: the machine's 127.0.0.1:5432, trust auth).
Each run makes its own database and drops it at the end. When PostgreSQL cannot be reached
its tests are skipped, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Before anything imports the app: no dev.env, no real AWS credentials, local mode.
os.environ.update(
    {
        "ENV_PATH": "/nonexistent/test.env",
        "APP_MODE": "local",
        "JWT_SECRET": "test-jwt-secret-that-is-at-least-32-bytes-long",
        "ADMIN_EMAIL": "admin@example.com",
        "ADMIN_PASSWORD": "admin-password-for-tests",
        "PUBLIC_BASE_URL": "http://testserver",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "LOCAL_WORKERS": "2",
    }
)
for _name in ("DATABASE_URL", "PG_HOST", "S3_BUCKET", "JOB_QUEUE_URL", "HF_ENDPOINT_URL", "HF_TOKEN", "AWS_PROFILE"):
    os.environ.pop(_name, None)

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

TEST_PG_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


# --- no traffic but loopback ------------------------------------------------------------
_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> object:
    if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
        host = str(address[0])
        if not (host.startswith("127.") or host in {"::1", "localhost"}):
            raise OSError(f"tests may only reach loopback, not {host}")
    return _real_connect(self, address)


socket.socket.connect = _loopback_only  # type: ignore[method-assign]


def reset_app_state() -> None:
    """Make the app re-read settings and rebuild its engine, storage and clients."""
    from app.core import aws
    from app.core.config import get_settings
    from app.core.db import reset_engine
    from app.storage import get_storage

    get_settings.cache_clear()
    get_storage.cache_clear()
    aws.reset()
    reset_engine()


def _create_pg_database() -> str:
    admin_url = make_url(TEST_PG_URL)
    name = f"inpaint_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(url: str) -> None:
    name = make_url(url).database
    engine = create_engine(make_url(TEST_PG_URL), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        engine = create_engine(make_url(TEST_PG_URL), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at {make_url(TEST_PG_URL).render_as_string()} is unreachable: {exc}"
    return None


def require_pg() -> None:
    reason = pg_available()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database of each kind; the app's settings point at it."""
    if request.param == "postgresql":
        require_pg()
        url = _create_pg_database()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    os.environ["DATABASE_URL"] = url
    os.environ["STORAGE_DIR"] = str(tmp_path_factory.mktemp("images"))
    reset_app_state()
    from app.core.migrate import upgrade

    upgrade()
    yield url
    reset_app_state()
    engine = _harness_engines.pop(url, None)
    if engine is not None:
        engine.dispose()  # type: ignore[attr-defined]
    os.environ.pop("DATABASE_URL", None)
    if request.param == "postgresql":
        _drop_pg_database(url)


def _truncate_all() -> None:
    from app.core.db import get_engine
    from app.core.models import Base

    engine = get_engine()
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))


def _empty_folder(folder: Path) -> None:
    import shutil

    for child in folder.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


_harness_engines: dict[str, object] = {}


def _harness_engine(url: str):
    """The tests' own engine, apart from the app's pool: the app is run with as few as one
    connection (DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0), and a test's session must not take it."""
    if url not in _harness_engines:
        from app.core.config import Settings
        from app.core.db import build_engine
        from app.core.models import Base  # noqa: F401 - every table mapped

        _harness_engines[url] = build_engine(Settings(database_url=url, db_pool_size=5, db_max_overflow=5))
    return _harness_engines[url]


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    """A session on the test database; every table is emptied after the test."""
    reset_app_state()
    session = Session(bind=_harness_engine(database_url), autoflush=False, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        from app.jobs.dispatch import reset_local_dispatcher

        reset_local_dispatcher()  # let in-process jobs finish before the tables go
        _truncate_all()
        _empty_folder(Path(os.environ["STORAGE_DIR"]))
        reset_app_state()


@pytest.fixture
def settings(db: Session):
    from app.core.config import get_settings

    return get_settings()


@pytest.fixture
def app(db: Session):
    from app.main import create_app

    return create_app()


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def user(db: Session):
    from tests.factories import create_user

    return create_user(db)


@pytest.fixture
def user_headers(client, user) -> dict[str, str]:
    from tests.factories import auth_headers

    return auth_headers(client, user)


@pytest.fixture
def job_sessions(monkeypatch: pytest.MonkeyPatch) -> list[Session]:
    """The session the job runner hands each handler it runs, in order."""
    from app.jobs import runner

    sessions: list[Session] = []
    real_handler_for = runner.handler_for

    def recording_handler_for(kind: str):
        handler = real_handler_for(kind)

        def run(ctx):
            sessions.append(ctx.session)
            return handler(ctx)

        return run

    monkeypatch.setattr(runner, "handler_for", recording_handler_for)
    return sessions


@pytest.fixture
def images_dir() -> Path:
    from app.core.config import get_settings

    return Path(get_settings().storage_dir)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real moto server on 127.0.0.1: for flows where a client talks HTTP to AWS itself
    (presigned URLs). boto3 reaches it through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_server: str, monkeypatch: pytest.MonkeyPatch, db: Session) -> Iterator[str]:
    """The app stores images in a bucket on the moto server."""
    bucket = f"images-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("S3_BUCKET", bucket)
    reset_app_state()
    from app.core import aws

    aws.client("s3").create_bucket(Bucket=bucket)
    yield bucket
    monkeypatch.delenv("S3_BUCKET")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    reset_app_state()


def loopback_socket() -> socket.socket:
    """A listening-ready socket on a free 127.0.0.1 port (its address is known before the app)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(app, sock: socket.socket) -> Iterator[str]:
    """``app`` served by uvicorn (lifespan on) on ``sock`` in a thread; yields its base URL."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on", limit_concurrency=100))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app served by uvicorn on a free 127.0.0.1 port, for tests that go over real HTTP."""
    with serving(app, loopback_socket()) as base_url:
        yield base_url


@pytest.fixture
def http(live_server, db, settings, user):
    """An httpx client for the live server, signed in as ``user``, with the seed applied."""
    import httpx

    from app.seed.service import run_seed
    from tests.factories import DEFAULT_PASSWORD

    run_seed(db, settings)
    with httpx.Client(base_url=live_server, timeout=60) as client:
        token = client.post("/v1/auth/token", data={"username": user.email, "password": DEFAULT_PASSWORD})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client
