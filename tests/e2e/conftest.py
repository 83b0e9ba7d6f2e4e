"""Fixtures of the real-browser tests: one server, one browser and one seeded run store for the whole run.

* ``browser``: one headless Chromium (``harness.launch_browser``); every test gets a fresh context
  (cookies, cache, storage) through ``context`` / ``page``.
* ``seeded_store``: a session folder with one trained digits run (``harness.seed_store``).
* ``app_server``: ``streamlit run app.py`` on that store, started once. Tests that add runs compare
  the store before and after, so they do not depend on each other's runs.
* ``first_request_server``: the same server, for the one test that must make its very first page
  request; that test is moved to the front of the run (``pytest_collection_modifyitems``).

Tests that need another server (the map demo, a server to kill, another store) start one with
``harness.StreamlitServer`` itself. When Chromium or playwright is missing, the tests are skipped
with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import ARTIFACTS, VIEWPORT, StreamlitServer, find_chromium, launch_browser, seed_store, track_idle

FIRST_REQUEST = "first_request"
_visited: set[str] = set()  # urls of servers a test has used (the first request is gone)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{FIRST_REQUEST}: must make the shared app server's very first page request")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the first-request test before every other test (a stable sort keeps the rest in order).

    Under pytest-xdist every browser test joins one group, so one worker runs them all, in this
    order, against the session's one server and one Chromium (``--dist loadgroup``).
    """
    items.sort(key=lambda item: item.get_closest_marker(FIRST_REQUEST) is None)
    for item in items:
        if "e2e" in item.nodeid.split("::")[0].split("/"):
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("Chromium not found (Debian: apt-get install chromium); the browser tests need it")
    return path


@pytest.fixture(scope="session")
def playwright_api() -> Iterator[Any]:
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install -r requirements-dev.txt)")
    # A page after a server start, or a rerun while a job trains, takes seconds on a busy 2-core box.
    expect.set_options(timeout=60_000)
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_api: Any, chromium_path: str) -> Iterator[Any]:
    """One headless Chromium for the whole run (a fresh context per test keeps tests apart)."""
    b = launch_browser(playwright_api, chromium_path)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture()
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies: a new "browser" to the app), closed after the test."""
    ctx = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    ctx.set_default_timeout(60_000)
    track_idle(ctx)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture()
def page(context: Any) -> Any:
    """A new page in the test's fresh context."""
    return context.new_page()


@pytest.fixture(scope="session")
def _app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StreamlitServer, str]]:
    runs = tmp_path_factory.mktemp("e2e-runs")
    # The server boots (seconds of imports) while the engine trains the seeded run: it reads the
    # store only when a page asks, and no page is opened before this fixture returns.
    with StreamlitServer(ARTIFACTS / "streamlit.log", runs_dir=runs) as server:
        run_id = seed_store(runs)
        server.wait_healthy()
        yield server, run_id


@pytest.fixture(scope="session")
def seeded_store(_app_server: tuple[StreamlitServer, str]) -> tuple[Path, str]:
    """``(runs folder, run id)``: the shared store and its trained digits run (with its UMAP map).

    The run's config is ``harness.SEED_RUN``; tests may add runs but never change or remove this one.
    """
    server, run_id = _app_server
    return server.runs_dir, run_id


@pytest.fixture()
def app_server(_app_server: tuple[StreamlitServer, str]) -> Iterator[StreamlitServer]:
    """The shared ``streamlit run app.py`` on the seeded store (its folder: ``.runs_dir``)."""
    server = _app_server[0]
    yield server
    _visited.add(server.url)


@pytest.fixture()
def first_request_server(_app_server: tuple[StreamlitServer, str]) -> Iterator[StreamlitServer]:
    """The shared server, on which no test has opened a page yet (an error otherwise)."""
    server = _app_server[0]
    if server.url in _visited:
        pytest.fail(f"another test used the app server before this one; only mark {FIRST_REQUEST!r} tests")
    yield server
    _visited.add(server.url)


@pytest.fixture()
def fresh_store(tmp_path: Path) -> Path:
    """An empty runs folder of this test's own."""
    runs = tmp_path / "runs"
    runs.mkdir()
    return runs

