"""A three-ratio study on digits started from the Ratio study page, in headless Chromium.

The test opens ``/study`` on the shared server (``conftest.py``), keeps the form's ratios (1, 10,
50), sets 3 epochs and two oversamplers, presses **Run study** and waits for the job to end. Then
it checks that the runs the study added to the store are its three finished runs, one per ρ, and
that it is the one study added, and that both figures
are drawn with the stored numbers: the plotted traces are read from the page's Plotly objects and
compared with the saved study record. A full-page screenshot goes to
``test-artifacts/e2e/ratio_study.png``.

Run it alone with ``.venv/bin/python -m pytest -m e2e tests/e2e/test_study.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from .harness import ARTIFACTS, ERROR_BOX, EXCEPTION, chart, full_page_screenshot, problems_on, wait_idle

pytestmark = pytest.mark.e2e

STUDY_TIMEOUT_MS = 600_000
TRACES_JS = """key => {
    const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    if (!gd || !gd.data) return null;  // _fullData: the arrays as plotly.js decoded them
    const list = v => v == null ? null : Array.from(v, x => (x === null || Number.isNaN(x)) ? null : x);
    return (gd._fullData || gd.data).map(t => ({name: t.name, mode: t.mode, x: list(t.x), y: list(t.y),
                              err: t.error_y ? list(t.error_y.array) : null}));
}"""


def tags(page, key: str) -> list[str]:
    """The values a multiselect shows as chosen (its tags), in order."""
    return [t.get_attribute("aria-label") for t in page.locator(f".st-key-{key} [data-tag]").all()]


def close(a, b) -> bool:
    a = np.asarray([np.nan if v is None else v for v in a], float)
    b = np.asarray([np.nan if v is None else v for v in b], float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True))


def test_three_ratio_study_from_the_app(page, app_server) -> None:
    from playwright.sync_api import expect

    from eos_core import RunStore
    from eos_core.study import list_studies

    server, runs = app_server, app_server.runs_dir
    runs_before = {r.id for r in RunStore(runs).list_runs()}
    studies_before = {s.study_id for s in list_studies(RunStore(runs))}
    page.goto(server.url + "/study")
    expect(page.get_by_role("heading", name="Ratio study", level=1)).to_be_visible(timeout=90_000)
    expect(page.locator(".st-key-study_ratios [data-tag]").first).to_be_visible()
    wait_idle(page)
    assert tags(page, "study_ratios") == ["1", "10", "50"]
    epochs = page.locator(".st-key-study_epochs input")
    epochs.fill("3")
    epochs.press("Enter")
    wait_idle(page)
    for name in tags(page, "study_methods"):
        if name not in ("SMOTE", "EOS"):
            page.locator(f'.st-key-study_methods button[aria-label="Remove {name}"]').first.click()
            wait_idle(page)
    assert tags(page, "study_methods") == ["SMOTE", "EOS"]

    t0 = time.monotonic()
    page.locator(".st-key-study_button button").click()
    done = page.locator('[data-testid="stAlertContentSuccess"]', has_text="The study finished")
    ended = done.or_(page.locator(EXCEPTION)).or_(page.locator(ERROR_BOX)).first
    expect(ended, f"the study did not finish\n{server.log_tail()}").to_be_visible(timeout=STUDY_TIMEOUT_MS)
    assert not page.locator(EXCEPTION).count() and not problems_on(page), f"{problems_on(page)}\n{server.log_tail()}"
    assert done.count() == 1, "the study ended without its success message"
    wait_idle(page)
    took = time.monotonic() - t0

    store = RunStore(runs)
    (rec,) = [s for s in list_studies(store) if s.study_id not in studies_before]
    assert rec.status == "finished"
    assert [(r["ratio"], r["seed"]) for r in rec.runs] == [(1.0, 0), (10.0, 0), (50.0, 0)]
    assert sorted(r.id for r in store.list_runs() if r.id not in runs_before) == sorted(r["run_id"] for r in rec.runs)
    assert all(store.get_run(r["run_id"]).status == "finished" for r in rec.runs)
    assert f"study={rec.study_id}" in page.url

    for key in ("study_gap", "study_delta"):
        expect(chart(page, key)).to_be_attached()
    rows = rec.summary["ratios"]
    gap = [t for t in page.evaluate(TRACES_JS, "study_gap") if t["mode"] == "lines+markers"]
    assert [t["name"] for t in gap] == ["ρ=1 (1 seed)", "ρ=10 (1 seed)", "ρ=50 (1 seed)"]
    for t, r in zip(gap, rows, strict=True):
        order = np.argsort(r["train_count"], kind="stable")
        assert close(t["x"], np.asarray(r["train_count"])[order])
        assert close(t["y"], [r["gap"]["nn_ratio"][i] for i in order])
    delta = {t["name"]: t for t in page.evaluate(TRACES_JS, "study_delta")}
    assert list(delta) == ["SMOTE", "EOS"]
    for name, m in (("SMOTE", "smote"), ("EOS", "eos")):
        assert close(delta[name]["x"], [1.0, 10.0, 50.0])
        assert close(delta[name]["y"], [r["methods"][m]["delta_vs_crt"]["balanced_accuracy"]["mean"] for r in rows])
    full_page_screenshot(page, ARTIFACTS / "ratio_study.png")
    assert not problems_on(page)
    print(f"e2e study: 3 runs in {took:.0f} s")
