"""A headless Chromium (Debian's package) driven by Playwright, for the dashboard's tests.

Playwright never downloads a browser here: it is pointed at /usr/bin/chromium. Without that
package (or without playwright) the browser tests skip with what to install.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


# one browser per module, not per session: while Playwright's sync API is started it holds an
# event loop running on this thread, and other modules' asyncio tests must not find it there
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which("chromium") is None:
        pytest.skip("the dashboard's browser tests need Chromium: install Debian's chromium package "
                    "(apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="install the test extra: pip install -e '.[test]'")
    with sync_api.sync_playwright() as playwright:
        found = launch(playwright)
        yield found
        found.close()


@pytest.fixture
def page(browser: Any, server: Any) -> Iterator[Any]:
    """A fresh page (its own context), closed before the test's server stops."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    found = context.new_page()
    errors: list[str] = []
    found.on("pageerror", lambda exc: errors.append(str(exc)))
    found.errors = errors
    yield found
    context.close()
    assert not errors, errors


SCENARIO = {"name": "shop", "rules": [
    {"name": "busy", "match": {"path": "/busy"}, "respond": {"status": 429, "headers": {"Retry-After": "1"}}},
    {"name": "list", "match": {"method": "GET", "path": "/orders"}, "respond": {"json": []}},
    {"name": "create", "match": {"method": "POST", "path": "/orders"},
     "respond": {"status": 201, "json": {"id": 7}}},
    {"name": "outage", "match": {"path": "/flaky"}, "respond": {"status": 503}},
    {"name": "drop", "match": {"path": "/drop"}, "fault": "reset"},
    {"name": "search", "match": {"path": "/search"}, "respond": {"json": {"hits": 0}},
     "rate_limit": {"rate": 1, "per": "10s", "burst": 1}},
]}


@pytest.fixture
def server_token() -> str | None:
    """The admin token the test's server runs with (test_token.py sets one)."""
    return None


@pytest.fixture
def server(server_token: str | None) -> Iterator[Any]:
    from mockserver import MockServer

    with MockServer(SCENARIO, admin_token=server_token) as found:
        yield found
