"""Real-browser end-to-end: a deep link as the server's first request, then a digits run trained through the UI.

Headless Chromium (Debian's package, driven by playwright) against the shared ``streamlit run app.py``
(``conftest.py``). The very first request to the fresh server is a deep link (``/gap``): it must land on
*Embedding gap* through ``app.py``'s router (its sidebar and page config), not on the page script alone
(what Streamlit's legacy mode would do with a folder named ``pages/``; the pages live in ``app_pages/``).
Then, on *Setup & train*, a test sets a short run (6 epochs, default digits dataset and oversamplers),
clicks **Train**, waits for the background job to finish, then opens every page from the sidebar and
checks that its Plotly charts are drawn and that no Streamlit exception or error box is shown. (A reload
while a job trains is checked in ``test_jobs.py``, on a job long enough to be still running.) A
full-page screenshot of every page goes to ``test-artifacts/e2e/<page>.png`` (git-ignored), the server
log to ``test-artifacts/e2e/streamlit.log``.

Run it alone with ``.venv/bin/python -m pytest -m e2e tests/e2e/test_browser.py``.
"""

from __future__ import annotations

import time

import pytest

from .harness import (
    ARTIFACTS,
    ERROR_BOX,
    EXCEPTION,
    chart,
    full_page_screenshot,
    map_drawn,
    problems_on,
    wait_idle,
)

pytestmark = pytest.mark.e2e

EPOCHS = 6
TRAIN_TIMEOUT_MS = 300_000

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
NAV = '[data-testid="stSidebarNav"] a'


def check_page(page, name: str, title: str, keys: list[str], server) -> None:
    """The page's title, every chart in ``keys`` drawn, no exception or error box; a screenshot."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    trouble = page.locator(EXCEPTION).or_(page.locator(ERROR_BOX)).first
    for k in keys:
        if k in MAP_KEYS:
            expect(map_drawn(page, k), f"{title}: the map {k} is not drawn").to_be_attached()
        else:  # a chart, or a problem shown instead (fail at once, with its text)
            expect(chart(page, k).or_(trouble).first).to_be_attached()
            assert not problems_on(page), f"{title}: {problems_on(page)}\n--- server log ---\n{server.log_tail()}"
    wait_idle(page)
    full_page_screenshot(page, ARTIFACTS / f"{name}.png")
    problems = problems_on(page)
    assert not problems, f"{title}: {problems}\n--- server log ---\n{server.log_tail()}"
    drawn = {k: (map_drawn(page, k) if k in MAP_KEYS else chart(page, k)).count() > 0 for k in keys}
    assert all(drawn.values()), f"{title}: charts not drawn: {[k for k, v in drawn.items() if not v]}"
    n_plots = page.locator(".js-plotly-plot").count()
    n_plotly = len([k for k in keys if k not in MAP_KEYS])
    assert n_plots >= n_plotly, f"{title}: {n_plots} Plotly charts, expected at least {n_plotly}"


@pytest.mark.first_request
def test_a_deep_link_as_the_first_request_lands_on_app_py_router(page, first_request_server) -> None:
    from playwright.sync_api import expect

    page.goto(first_request_server.url + "/gap")
    expect(page.get_by_role("heading", name="Embedding gap", level=1)).to_be_visible(timeout=90_000)
    wait_idle(page)
    nav = [a.inner_text().split("\n")[-1] for a in page.locator(NAV).all()]
    assert nav == [label for _, label, _, _ in PAGES] + ["Ratio study"], f"not app.py's navigation: {nav}"
    assert page.title() == "EOS Explorer", page.title()  # app.py's page config
    assert not page.get_by_text("Page not found").count() and not problems_on(page)


def test_digits_run_through_every_page(page, app_server) -> None:
    from playwright.sync_api import expect

    server = app_server
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))

    timings: dict[str, float] = {}
    t_start = time.monotonic()
    page.goto(server.url + "/")
    train = page.locator(".st-key-train_button button[data-testid^=\"stBaseButton\"]").first
    expect(train).to_be_visible(timeout=90_000)
    wait_idle(page)
    timings["first_page_s"] = time.monotonic() - t_start

    # A short run: default digits dataset, ratio and oversamplers; few epochs.
    epochs = page.locator(".st-key-setup_epochs input")
    epochs.fill(str(EPOCHS))
    epochs.press("Enter")
    wait_idle(page)
    assert epochs.input_value() == str(EPOCHS)
    expect(train).to_be_enabled()  # after the phase-1 estimate is timed (a spinner until then)

    t0 = time.monotonic()
    train.click()
    expect(page.locator('[data-testid="stProgress"]').first).to_be_visible()
    done = page.locator('[data-testid="stAlertContentSuccess"]', has_text="finished in")
    ended = done.or_(page.locator(ERROR_BOX)).or_(page.locator(EXCEPTION)).first
    expect(ended, f"training did not end\n{server.log_tail()}").to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    assert not page.locator(ERROR_BOX).count(), (
        f"training failed: {page.locator(ERROR_BOX).first.inner_text()}\n{server.log_tail()}")
    assert not page.locator(EXCEPTION).count(), f"exception while training:\n{server.log_tail()}"
    assert done.count() == 1
    wait_idle(page)
    timings["training_s"] = time.monotonic() - t0

    for name, nav_label, title, keys in PAGES:
        t_page = time.monotonic()
        if name != "setup_and_train":
            page.locator(NAV, has_text=nav_label).click()
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
