"""Jobs a user can stop, in a real browser against ``streamlit run app.py`` (issue 15).

1. A job started in one browser context survives a reload of that page (the form comes back with
   the job's settings and the browser keeps its Cancel button), then is cancelled from a new
   context, after the first was closed: on a localhost-only server (the test servers listen on
   127.0.0.1) any browser re-attaches to the running job on *Setup & train* without a link, and may
   cancel it; the run store records the run ``cancelled``. On the shared server (``conftest.py``).
2. SIGTERM or SIGINT to the server while a job trains: the server exits within 5 s and the run
   store records the run ``cancelled`` with the server-stop message (``ui.shutdown``). Each on a
   server of its own (``harness.StreamlitServer``), since the test stops it.

Screenshots go to ``test-artifacts/e2e/`` (git-ignored). Run with ``.venv/bin/python -m pytest -m e2e
tests/e2e/test_jobs.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from eos_core import RunStore
from ui.shutdown import SERVER_STOPPED_TEXT

from .harness import ARTIFACTS, VIEWPORT, StreamlitServer, full_page_screenshot

pytestmark = pytest.mark.e2e

LONG_EPOCHS = 1000  # digits: minutes of training, so the job is still running when it is stopped
STOP_LIMIT_S = 5.0
PROGRESS = '[data-testid="stProgress"]'
CANCEL = ".st-key-cancel_button button >> nth=0"


@pytest.fixture
def own_server(fresh_store: Path):
    """A server of this test's own on 127.0.0.1 with an empty run store (``.runs_dir``); always stopped."""
    log = ARTIFACTS / f"streamlit-jobs-{os.getpid()}-{time.monotonic_ns()}.log"
    with StreamlitServer(log, runs_dir=fresh_store) as srv:
        srv.wait_healthy()
        yield srv


def _new_page(browser):
    context = browser.new_context(viewport=VIEWPORT)
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


def _run_ids(runs: Path) -> set[str]:
    return {r.id for r in RunStore(runs).list_runs()}


def _only_new_run(runs: Path, before: set[str] = frozenset()):
    """The one run added to the store since ``before`` (its ids then)."""
    records = [r for r in RunStore(runs).list_runs() if r.id not in before]
    assert len(records) == 1, [(r.id, r.status) for r in records]
    return records[0]


def test_a_new_browser_context_cancels_a_job_started_in_a_closed_one(browser, app_server) -> None:
    from playwright.sync_api import expect

    server, before = app_server, _run_ids(app_server.runs_dir)
    first, page = _new_page(browser)
    try:
        _start_long_job(page, server.url)
        # A reload mid-training: the same browser (its XSRF cookie) keeps control of its job, and the
        # form shows the job's config, not the defaults.
        page.reload()
        epochs = page.locator(".st-key-setup_epochs input")
        expect(epochs).to_be_attached()  # drawn by the first run, after the form was restored
        assert epochs.input_value() == str(LONG_EPOCHS), "the form was not restored from the running job"
        expect(page.locator(PROGRESS)).to_be_visible()  # still running after the reload
        expect(page.locator(CANCEL)).to_be_visible()
        assert page.locator(".st-key-cancel_button button").count() == 1, "the starting browser lost control"
    finally:
        first.close()  # the browser that started the job is gone, and its cookies with it

    second, page = _new_page(browser)
    try:
        page.goto(server.url + "/")  # no ?job= link
        expect(page.locator(PROGRESS)).to_be_visible()
        expect(page.locator(CANCEL)).to_be_visible()
        expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("Progress and Cancel are on Setup & train")
        expect(page.get_by_text("only that browser can cancel it")).to_have_count(0)
        assert "job=" in page.url  # re-attached: a reload keeps following it
        full_page_screenshot(page, ARTIFACTS / "jobs_reattached.png")
        assert _only_new_run(server.runs_dir, before).status == "running"
        page.locator(CANCEL).click()
        expect(page.get_by_text("Training was cancelled.")).to_be_visible(timeout=60_000)
        expect(page.locator(PROGRESS)).to_have_count(0)
        full_page_screenshot(page, ARTIFACTS / "jobs_cancelled.png")
    finally:
        second.close()
    run = _only_new_run(server.runs_dir, before)
    assert (run.status, run.message) == ("cancelled", "Cancelled by the user.")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_cancels_the_running_job_and_the_server_exits(browser, own_server, sig) -> None:
    server = own_server
    context, page = _new_page(browser)
    try:
        _start_long_job(page, server.url)
        assert _only_new_run(server.runs_dir).status == "running"
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
    run = _only_new_run(server.runs_dir)
    assert (run.status, run.message) == ("cancelled", SERVER_STOPPED_TEXT), server.log_tail()
    assert "still running" not in server.log_tail()
