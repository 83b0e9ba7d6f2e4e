"""Real browser: choosing a preset sets page 1's form; an out-of-range number disables Train.

Headless Chromium against the shared ``streamlit run app.py`` (fixtures in ``conftest.py``). The test picks the
``fashion-lt`` preset from the selector, reads the form's inputs back from the page and compares
them with the engine's preset config, checks the "what you should see" paragraph is the engine's,
then types 5000 epochs and expects the engine's sentence and a disabled Train button. Screenshots go
to ``test-artifacts/e2e/preset_*.png``. Run with ``.venv/bin/python -m pytest -m e2e -k preset``.
"""

from __future__ import annotations

import pytest

from eos_core.presets import PRESETS, preset_config, what_you_should_see

from .harness import ARTIFACTS, ERROR_BOX, full_page_screenshot, problems_on, wait_idle

pytestmark = pytest.mark.e2e


def test_choosing_a_preset_sets_the_form(page, app_server, shared_data_dir) -> None:
    from playwright.sync_api import expect

    page.goto(app_server.url + "/")
    train = page.locator('.st-key-train_button button[data-testid^="stBaseButton"]').first
    expect(train).to_be_visible(timeout=90_000)
    wait_idle(page)

    page.locator(".st-key-setup_preset input[role=combobox]").click()
    page.get_by_role("option", name=f"fashion-lt — {PRESETS['fashion-lt'].title}").click()
    # The preset took (its own caption), then the form's dataset is loaded and counted: Fashion-MNIST's
    # 60,000 images, read once per server, take long on a busy machine.
    expect(page.get_by_text(f"{PRESETS['fashion-lt'].title}.", exact=False).first).to_be_visible()
    expect(page.get_by_text("training images (2000 in the largest class")).to_be_visible(timeout=240_000)
    wait_idle(page)
    full_page_screenshot(page, ARTIFACTS / "preset_fashion_lt.png")

    cfg = preset_config("fashion-lt", data_dir=shared_data_dir)
    assert page.locator(".st-key-setup_epochs input").input_value() == str(cfg.train.epochs)
    assert page.locator(".st-key-setup_cap input").input_value() == str(cfg.data.max_per_class)
    assert page.locator(".st-key-setup_cap_on input").is_checked()
    assert "Fashion-MNIST" in page.locator(".st-key-setup_dataset input").input_value()
    assert page.locator(".st-key-setup_augment input").input_value() == "off"
    assert "100" in page.locator(".st-key-setup_ratio").inner_text()
    paragraph = page.locator('[data-testid="stAlertContentInfo"]').first.inner_text()
    assert " ".join(paragraph.split()) == " ".join(f"What you should see. {what_you_should_see('fashion-lt')}".split())

    assert not problems_on(page)
    expect(train).to_be_enabled()  # after the phase-1 estimate is timed (a spinner until then)

    epochs = page.locator(".st-key-setup_epochs input")
    epochs.fill("5000")
    epochs.press("Enter")
    wait_idle(page)
    full_page_screenshot(page, ARTIFACTS / "preset_epochs_5000.png")
    shown = page.locator(ERROR_BOX).first.inner_text().split("\n")[-1]  # after the alert's icon line
    assert shown == "Epochs must be an integer in [1, 1000], got 5000."
    assert train.is_disabled()
