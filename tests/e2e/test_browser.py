"""One real-browser end-to-end run: a short digits training through the UI, then every page.

Headless Chromium (Debian's package, driven by playwright) against ``streamlit run app.py`` with an
empty temporary run store. The very first request to the fresh server is a deep link (``/gap``):
it must land on *Embedding gap* through ``app.py``'s router (its sidebar and page config), not on
the page script alone (what Streamlit's legacy mode would do with a folder named ``pages/``; the
pages live in ``app_pages/``). Then, on *Setup & train*, the test sets a short run (6 epochs,
default digits dataset and oversamplers), clicks **Train**, reloads the page while the job runs
(the form must come back with the job's settings, and this browser keeps its Cancel button),
waits for the background job to finish, then opens
every page from the sidebar and checks that its Plotly charts are drawn and that no Streamlit
exception or error box is shown. A full-page screenshot of every page goes to
``test-artifacts/e2e/<page>.png`` (git-ignored), the server log to ``test-artifacts/e2e/streamlit.log``.

Run it alone with ``.venv/bin/python -m pytest -m e2e``.
"""

from __future__ import annotations

import time

import pytest

from .conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

EPOCHS = 6
TRAIN_TIMEOUT_S = 180

# (screenshot name, sidebar label, page title, chart keys that must be drawn)
PAGES = [
    ("setup_and_train", "Setup & train", "Setup & train", ["counts_chart", "train_curve", "live_gap"]),
    ("embedding_gap", "Embedding gap", "Embedding gap", ["gap_map", "gap_bars", "gap_epochs"]),
    ("synthetic_inspector", "Synthetic inspector", "Synthetic inspector",
     ["syn_sel_eos", "syn_sel_smote", "syn_enemy_share", "syn_closure"]),
    ("head_accuracy", "Head accuracy", "Head accuracy", ["recall_heatmap", "confusion_crt"]),
]
# Keys of map components (ui.map_component): drawn when their iframe's body is marked ready.
MAP_KEYS = {"gap_map", "syn_sel_eos", "syn_sel_smote"}

RUNNING = '[data-testid="stStatusWidgetRunningIcon"]'
EXCEPTION = '[data-testid="stException"]'
ERROR_BOX = '[data-testid="stAlertContentError"]'


def wait_idle(page, timeout_s: float = 60.0, quiet_s: float = 0.75) -> None:
    """Wait until the script run indicator has been gone for ``quiet_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        if page.locator(RUNNING).count():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the app was still running after {timeout_s:.0f} s")


def full_page_screenshot(page, path) -> None:
    """Streamlit scrolls inside its own container, so a plain full-page shot only covers the
    viewport: grow the viewport to the content height first."""
    height = page.evaluate("""() => {
        let h = document.documentElement.scrollHeight;
        for (const el of document.querySelectorAll('main, section, div')) {
            const oy = getComputedStyle(el).overflowY;
            if ((oy === 'auto' || oy === 'scroll') && el.scrollHeight > el.clientHeight + 4) {
                h = Math.max(h, el.scrollHeight);
            }
        }
        return h;
    }""")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": int(min(max(height + 40, size["height"]), 12000))})
    page.wait_for_timeout(600)  # Plotly re-lays out responsive charts
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def problems_on(page) -> list[str]:
    out = []
    for sel, what in ((EXCEPTION, "exception"), (ERROR_BOX, "error box")):
        loc = page.locator(sel)
        for i in range(loc.count()):
            out.append(f"{what}: {loc.nth(i).inner_text()[:500]}")
    return out


def map_ready(page, key: str) -> bool:
    el = page.query_selector(f".st-key-{key} iframe")
    frame = el.content_frame() if el else None
    return bool(frame and frame.evaluate("document.body && document.body.dataset.ready || ''"))


def drawn_charts(page, keys: list[str]) -> dict[str, bool]:
    """Per chart key: is there a Plotly plot with its SVG layers inside the element (a map: drawn in its frame)?"""
    return {k: (map_ready(page, k) if k in MAP_KEYS
                else page.locator(f".st-key-{k} .js-plotly-plot .main-svg").count() > 0) for k in keys}


def check_page(page, name: str, title: str, keys: list[str], server) -> None:
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=30_000)
    deadline = time.monotonic() + 60
    while True:
        drawn = drawn_charts(page, keys)
        if all(drawn.values()) or problems_on(page) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(200)
    wait_idle(page)
    full_page_screenshot(page, ARTIFACTS / f"{name}.png")
    drawn = drawn_charts(page, keys)
    problems = problems_on(page)
    assert not problems, f"{title}: {problems}\n--- server log ---\n{server.log_tail()}"
    assert all(drawn.values()), f"{title}: charts not drawn: {[k for k, v in drawn.items() if not v]}"
    n_plots = page.locator(".js-plotly-plot").count()
    n_plotly = len([k for k in keys if k not in MAP_KEYS])
    assert n_plots >= n_plotly, f"{title}: {n_plots} Plotly charts, expected at least {n_plotly}"


def test_digits_run_through_every_page(browser, streamlit_server) -> None:
    server = streamlit_server
    page = browser.pages[0] if browser.pages else browser.new_page()
    page.set_default_timeout(30_000)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))

    timings: dict[str, float] = {}
    # The first request after the server start: a deep link.
    page.goto(server.url + "/gap")
    page.get_by_role("heading", name="Embedding gap", level=1).wait_for(timeout=90_000)
    wait_idle(page)
    nav = [a.inner_text().split("\n")[-1] for a in page.locator('[data-testid="stSidebarNav"] a').all()]
    assert nav == [label for _, label, _, _ in PAGES] + ["Ratio study"], f"not app.py's navigation: {nav}"
    assert page.title() == "EOS Explorer", page.title()  # app.py's page config
    assert not page.get_by_text("Page not found").count() and not problems_on(page)

    t_start = time.monotonic()
    page.goto(server.url + "/")
    train = page.locator(".st-key-train_button button[data-testid^=\"stBaseButton\"]").first
    train.wait_for(timeout=90_000)
    wait_idle(page)
    timings["first_page_s"] = time.monotonic() - t_start

    # A short run: default digits dataset, ratio and oversamplers; few epochs.
    epochs = page.locator(".st-key-setup_epochs input")
    epochs.fill(str(EPOCHS))
    epochs.press("Enter")
    wait_idle(page)
    assert epochs.input_value() == str(EPOCHS)
    from playwright.sync_api import expect

    expect(train).to_be_enabled(timeout=60_000)  # after the phase-1 estimate is timed (a spinner until then)

    t0 = time.monotonic()
    train.click()
    page.locator('[data-testid="stProgress"]').first.wait_for(timeout=60_000)
    # A reload mid-training: the same browser (its XSRF cookie) keeps control of its job, and the
    # form shows the job's config, not the defaults.
    page.reload()
    epochs = page.locator(".st-key-setup_epochs input")
    epochs.wait_for(timeout=60_000)  # drawn by the first run, after the form was restored
    assert epochs.input_value() == str(EPOCHS), "the form was not restored from the running job"
    if page.locator('[data-testid="stProgress"]').count():  # still running after the reload
        assert page.locator(".st-key-cancel_button button").count() == 1, "the starting browser lost control"
        timings["reloaded_while_training"] = 1.0
    done = page.locator('[data-testid="stAlertContentSuccess"]', has_text="finished in")
    failed = page.locator(ERROR_BOX)
    while not done.count():
        assert not failed.count(), f"training failed: {failed.first.inner_text()}\n{server.log_tail()}"
        assert not page.locator(EXCEPTION).count(), f"exception while training:\n{server.log_tail()}"
        assert time.monotonic() - t0 < TRAIN_TIMEOUT_S, (
            f"training did not finish within {TRAIN_TIMEOUT_S} s\n{server.log_tail()}")
        page.wait_for_timeout(500)
    wait_idle(page)
    timings["training_s"] = time.monotonic() - t0

    for name, nav_label, title, keys in PAGES:
        t_page = time.monotonic()
        if name != "setup_and_train":
            page.locator('[data-testid="stSidebarNav"] a', has_text=nav_label).click()
        check_page(page, name, title, keys, server)
        timings[f"{name}_s"] = time.monotonic() - t_page
        if name == "embedding_gap":
            map_title = page.frame_locator(".st-key-gap_map iframe").locator("body").evaluate(
                "() => window.__eosMap.state.title")
            assert map_title.startswith("UMAP"), f"the saved UMAP map is not shown: {map_title!r}"

    print("e2e timings:", {k: round(v, 1) for k, v in timings.items()})
    # The run chosen on one page stays chosen (and in the URL).
    assert "run=" in page.url
    assert not [e for e in console_errors if "plotly" in e.lower() or "uncaught" in e.lower()], console_errors
