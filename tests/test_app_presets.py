"""Page 1's preset selector, augmentation switch, phase-1 estimate and the engine's rule for Train."""

from __future__ import annotations

import pytest
from apptest_helpers import app, ok

from eos_core.presets import PRESETS, preset_config, what_you_should_see
from ui.setup_form import AUGMENT_CHOICES, form_values

WIDGETS = {"setup_dataset": "selectbox", "setup_profile": "radio", "setup_model": "selectbox",
           "setup_loss": "selectbox", "setup_epochs": "number_input", "setup_seed": "number_input",
           "setup_methods": "multiselect", "setup_k": "slider", "setup_cap_on": "checkbox",
           "setup_cap": "number_input", "setup_ratio": "select_slider", "setup_augment": "selectbox"}


def _value(at, key: str):
    return getattr(at, WIDGETS[key])(key=key).value


@pytest.mark.parametrize("name", ["fashion-lt", "cifar10-lt", "digits"])
def test_choosing_a_preset_sets_every_widget(runs_dir, tmp_path, shared_data_dir, monkeypatch, name):
    data_dir = tmp_path if name == "cifar10-lt" else shared_data_dir  # no CIFAR-10 there: a folder is asked for
    monkeypatch.setenv("EOS_DATA_DIR", str(data_dir))
    at = app()
    if name == "digits":  # start elsewhere so that choosing digits visibly resets the form
        at.number_input(key="setup_epochs").set_value(7).run()
        at.selectbox(key="setup_augment").set_value("on").run()
    at.selectbox(key="setup_preset").set_value(name).run()
    ok(at)
    want = form_values(preset_config(name, data_dir=data_dir, folder_pending=True).to_dict())
    assert set(want) >= set(WIDGETS) - {"setup_cap"} | ({"setup_cap"} if name != "digits" else set())
    for key, value in want.items():
        shown = _value(at, key)
        assert shown == value, key
    assert at.info[0].value == f"**What you should see.** {what_you_should_see(name)}"
    assert any(PRESETS[name].summary in c.value for c in at.caption)
    if name == "cifar10-lt":
        assert _value(at, "setup_dataset") == "folder" and at.button(key="train_button").disabled
        assert any(c.value.startswith("cifar10 is not downloaded on this server: give a folder") for c in at.caption)
    else:
        assert not at.button(key="train_button").disabled


def test_out_of_range_epochs_disable_train_with_the_engines_sentence(runs_dir):
    at = app()
    assert not at.button(key="train_button").disabled
    at.number_input(key="setup_epochs").set_value(5000).run()
    ok(at)
    assert _value(at, "setup_epochs") == 5000  # the widget keeps what was typed; the engine judges it
    assert [e.value for e in at.error] == ["Epochs must be an integer in [1, 1000], got 5000."]
    assert at.button(key="train_button").disabled
    at.number_input(key="setup_seed").set_value(-1).run()
    at.number_input(key="setup_epochs").set_value(30).run()
    assert [e.value for e in at.error] == ["The seed must be an integer in [0, 4294967295], got -1."]
    assert at.button(key="train_button").disabled
    at.number_input(key="setup_seed").set_value(0).run()
    assert not at.error and not at.button(key="train_button").disabled


def test_augmentation_switch_names_the_datasets_default_and_reaches_the_config(runs_dir):
    at = app()
    box = at.selectbox(key="setup_augment")
    assert box.value == "default" and list(AUGMENT_CHOICES) == ["default", "on", "off"]
    assert box.options == ["dataset default (off for digits)", "on", "off"]
    at.selectbox(key="setup_dataset").set_value("fashion-mnist").run()
    assert at.selectbox(key="setup_augment").options[0] == "dataset default (on for fashion-mnist)"


def test_the_form_shows_phase1_estimate(runs_dir, tmp_path, monkeypatch):
    from eos_core.phase1 import _estimate as estimate

    monkeypatch.setenv("EOS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(estimate, "_time_steps", lambda *a, **k: 0.016)  # 1 ms per image at batch 16
    monkeypatch.setattr(estimate, "_time_eval", lambda *a, **k: 0.0001)  # 0.1 ms per scored image
    monkeypatch.setattr(estimate, "_memory", {})
    from ui import cache

    cache.phase1_estimate.clear()  # a measured estimate from an earlier test in this process
    at = app()
    ok(at)
    # digits rho=50: 342 images, batch 16 -> 22 steps; scored after each epoch: 540 test images + the
    # snapshot's 342 training rows = 882; (0.001 x 16 x 22 + 0.0001 x 882) x 30 epochs = 13.2 s
    assert [c.value for c in at.caption if c.value.startswith("Phase 1 should take")] == [
        "Phase 1 should take about 13 s here: small CNN on the CPU, 30 epochs × 22 steps of 16 images, plus 882 "
        "images scored after each epoch, from a few steps timed on this machine now; no run of this model and image "
        "size has finished here yet, and a real epoch costs more than its timed steps (the first finished run "
        "calibrates later estimates). Data loading and phases 2–3 come on top."]
    at.number_input(key="setup_epochs").set_value(1000).run()  # 440 s: still under 10 minutes
    assert not at.warning
    monkeypatch.setattr(estimate, "_memory", {"small_cnn|cpu|8px|1ch": {"seconds_per_image": 0.01}})
    # an entry without an inference time counts a third of a step per scored image:
    # (0.01 x 16 x 22 + 0.01 / 3 x 882) x 999 = 6453 s
    at.number_input(key="setup_epochs").set_value(999).run()
    assert [w.value for w in at.warning] == [
        "Phase 1 should take about 108 min here: small CNN on the CPU, 999 epochs × 22 steps of 16 images, plus 882 "
        "images scored after each epoch, from a few steps timed on this machine now; no run of this model and image "
        "size has finished here yet, and a real epoch costs more than its timed steps (the first finished run "
        "calibrates later estimates). Data loading and phases 2–3 come on top. That is over 10 minutes: fewer "
        "epochs, a class cap or the small CNN make it shorter."]
