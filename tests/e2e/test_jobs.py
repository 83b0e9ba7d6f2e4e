"""Jobs a user can stop, in a real browser against ``streamlit run app.py`` (issue 15).

1. A job started in one browser context is cancelled from a new context, after the first was closed:
   on a localhost-only server (the test servers listen on 127.0.0.1) any browser re-attaches to
   the running job on *Setup & train* without a link, and may cancel it; the run store records
   the run ``cancelled``.
2. SIGTERM or SIGINT to the server while a job trains: the server exits within 5 s and the run
   store records the run ``cancelled`` with the server-stop message (``ui.shutdown``).

Screenshots go to ``test-artifacts/e2e/`` (git-ignored). Run with ``.venv/bin/python -m pytest -m e2e
tests/e2e/test_jobs.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from eos_core.store import RunStore
from ui.shutdown import SERVER_STOPPED_TEXT

from .conftest import ARTIFACTS, CHROMIUM_ARGS, StreamlitServer
from .test_browser import full_page_screenshot

pytestmark = pytest.mark.e2e

LONG_EPOCHS = 1000  # digits: minutes of training, so the job is still running when it is stopped
STOP_LIMIT_S = 5.0
PROGRESS = '[data-testid="stProgress"]'
CANCEL = ".st-key-cancel_button button >> nth=0"


@pytest.fixture(scope="module")
def chromium(playwright_api, chromium_path):
    """A plain browser: every test opens and closes its own contexts (fresh cookies each)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)  # a first page after a server start takes seconds on 2 cores
    browser = playwright_api.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def server(tmp_path):
    """A fresh server on 127.0.0.1 with its own empty run store (``.runs``); always stopped."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    runs = tmp_path / "runs"
    runs.mkdir()
    srv = StreamlitServer(runs, ARTIFACTS / f"streamlit-jobs-{os.getpid()}-{time.monotonic_ns()}.log")
    srv.runs = runs
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.stop()


def _new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def _start_long_job(page, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(url + "/")
    epochs = page.locator(".st-key-setup_epochs input")
    epochs.fill(str(LONG_EPOCHS))
    epochs.press("Enter")
    expect(epochs).to_have_value(str(LONG_EPOCHS))
    train = page.locator('.st-key-train_button button[data-testid^="stBaseButton"]').first
    expect(train).to_be_enabled(timeout=90_000)  # the class counts are drawn (the dataset is loaded)
    train.click()
    # The run exists once phase 1 reports an epoch.
    expect(page.get_by_text("Phase 1 · epoch").first).to_be_visible(timeout=120_000)


def _only_run(runs):
    records = RunStore(runs).list_runs()
    assert len(records) == 1, [(r.id, r.status) for r in records]
    return records[0]


def test_a_new_browser_context_cancels_a_job_started_in_a_closed_one(chromium, server) -> None:
    from playwright.sync_api import expect

    first, page = _new_page(chromium)
    _start_long_job(page, server.url)
    first.close()  # the browser that started the job is gone, and its cookies with it

    second, page = _new_page(chromium)
    try:
        page.goto(server.url + "/")  # no ?job= link
        expect(page.locator(PROGRESS)).to_be_visible()
        expect(page.locator(CANCEL)).to_be_visible()
        expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("Progress and Cancel are on Setup & train")
        expect(page.get_by_text("only that browser can cancel it")).to_have_count(0)
        assert "job=" in page.url  # re-attached: a reload keeps following it
        full_page_screenshot(page, ARTIFACTS / "jobs_reattached.png")
        assert _only_run(server.runs).status == "running"
        page.locator(CANCEL).click()
        expect(page.get_by_text("Training was cancelled.")).to_be_visible(timeout=60_000)
        expect(page.locator(PROGRESS)).to_have_count(0)
        full_page_screenshot(page, ARTIFACTS / "jobs_cancelled.png")
    finally:
        second.close()
    run = _only_run(server.runs)
    assert (run.status, run.message) == ("cancelled", "Cancelled by the user.")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_cancels_the_running_job_and_the_server_exits(chromium, server, sig) -> None:
    context, page = _new_page(chromium)
    try:
        _start_long_job(page, server.url)
        assert _only_run(server.runs).status == "running"
        sent = time.monotonic()
        os.kill(server.proc.pid, sig)
        try:
            server.proc.wait(STOP_LIMIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server still ran {STOP_LIMIT_S:g} s after {sig.name}\n{server.log_tail()}")
        took = time.monotonic() - sent
    finally:
        context.close()
    print(f"{sig.name}: the server exited after {took:.2f} s (load {os.getloadavg()[0]:.1f})")
    assert server.proc.returncode == 0, server.log_tail()
    run = _only_run(server.runs)
    assert (run.status, run.message) == ("cancelled", SERVER_STOPPED_TEXT), server.log_tail()
    assert "still running" not in server.log_tail()
