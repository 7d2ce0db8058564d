"""Headless Chromium (Debian's ``chromium``) driven by Playwright against the app served on
a free loopback port. ``playwright install`` cannot download here: the README's test command
installs Debian's browser, and Playwright is pointed at it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI, loopback_socket, serving

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Everything a headless run in a container needs, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped: Playwright's sync API keeps an asyncio loop running in this thread while
    it is open, and later tests (Mangum's handler) need to run their own."""
    if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
        if IN_CI:
            pytest.fail(f"CI=true: no Chromium at {CHROMIUM} (scripts/test.sh installs Debian's chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/test.sh, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def studio_server(db, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app on a free 127.0.0.1 port, with signed image links pointing at that port (the
    browser loads them), the seed applied."""
    from app.core.config import get_settings
    from app.main import create_app
    from app.seed.service import run_seed
    from app.storage import get_storage

    sock = loopback_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("PUBLIC_BASE_URL", base_url)
    get_settings.cache_clear()
    get_storage.cache_clear()
    run_seed(db, get_settings())
    with serving(create_app(), sock):
        yield base_url
    get_settings.cache_clear()
    get_storage.cache_clear()
