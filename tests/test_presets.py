"""Presets (engine and CLI), their "what you should see" paragraph, and phase 1's time estimate."""

from __future__ import annotations

import json
import re

import pytest

from eos_core.cli._main import apply_preset, build_parser, config_from_args, main
from eos_core.config import RunConfig, TrainConfig
from eos_core.errors import ConfigError, DatasetUnavailable
from eos_core.phase1 import _estimate as est
from eos_core.presets import (
    CIFAR10_MARKER,
    PRESETS,
    get_preset,
    load_measurements,
    preset_config,
    what_you_should_see,
)

MEASURED = {"presets": {"cifar10-lt": {
    "date": "2026-12-04 01:00 UTC", "machine": "a 2-core x86_64 CPU", "loadavg": [3.25, 2.0, 1.0],
    "wall_s": 171.4, "model": "small CNN", "min_train_recall": 0.98062,
    "size_gap_spearman": -0.9878787, "size_gap_spearman_p": 0.00497, "dataset": "folder", "gap_measure": "nn_ratio",
    "methods": {"none": {"balanced_accuracy": 0.5012, "delta_vs_crt": 0.0031},
                "crt": {"balanced_accuracy": 0.4981, "delta_vs_crt": None},
                "ros": {"balanced_accuracy": 0.5302, "delta_vs_crt": 0.0321},
                "smote": {"balanced_accuracy": 0.5297, "delta_vs_crt": 0.0316},
                "bsmote": {"balanced_accuracy": 0.5102, "delta_vs_crt": 0.0121},
                "adasyn": {"balanced_accuracy": 0.5201, "delta_vs_crt": 0.022},
                "eos": {"balanced_accuracy": 0.5514, "delta_vs_crt": 0.0533}}}}}


def test_presets_cli_lists_one_line_each(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(PRESETS) == ["digits", "cifar10-lt", "fashion-lt"]
    assert all(PRESETS[line.split()[0]].summary in line for line in lines)


def test_digits_preset_is_the_default_config():
    assert preset_config("digits").to_dict() == RunConfig().with_seed(0).to_dict()
    with pytest.raises(ConfigError, match="Unknown preset 'nope'; choose one of digits, cifar10-lt, fashion-lt."):
        get_preset("nope")


def test_cifar10_lt_reads_the_built_in_set_else_a_folder(tmp_path):
    with pytest.raises(DatasetUnavailable, match="needs CIFAR-10"):
        preset_config("cifar10-lt", data_dir=tmp_path)
    assert str(tmp_path) not in _message(lambda: preset_config("cifar10-lt", data_dir=tmp_path))
    cfg = preset_config("cifar10-lt", data_dir=tmp_path, folder="/data/cifar10-jpeg")
    assert (cfg.data.dataset, cfg.data.folder, cfg.data.ratio, cfg.data.max_per_class) == (
        "folder", "/data/cifar10-jpeg", 100.0, 2000)
    assert (cfg.train.model, cfg.train.augment, cfg.augment_enabled) == ("auto", False, False)
    pending = preset_config("cifar10-lt", data_dir=tmp_path, folder_pending=True)
    assert (pending.data.dataset, pending.data.folder) == ("folder", None)
    (tmp_path / CIFAR10_MARKER).mkdir()
    assert (preset_config("cifar10-lt", data_dir=tmp_path).data.dataset, cfg.data.profile) == ("cifar10", "exp")


def _message(fn) -> str:
    try:
        fn()
    except DatasetUnavailable as err:
        return str(err)
    raise AssertionError("no error")


def _args(*argv: str):
    args = build_parser().parse_args(list(argv))
    return apply_preset(args, list(argv))


def test_cli_preset_applies_and_explicit_flags_override():
    cfg = config_from_args(_args("run", "--preset", "fashion-lt"))
    want = preset_config("fashion-lt")
    assert cfg.to_dict() == want.to_dict()
    cfg = config_from_args(_args("run", "--preset", "fashion-lt", "--epochs", "3", "--augment", "--ratio", "10",
                                 "--seed", "4"))
    assert (cfg.train.epochs, cfg.train.augment, cfg.data.ratio, cfg.data.max_per_class, cfg.seed) == (
        3, True, 10.0, 2000, 4)
    cfg = config_from_args(_args("train", "--preset", "cifar10-lt", "--folder", "/x/cifar10-jpeg"))
    assert (cfg.data.dataset, cfg.data.folder, cfg.train.epochs) == ("folder", "/x/cifar10-jpeg", 20)


def test_cli_preset_without_its_data_is_one_line(tmp_path, capsys):
    code = main(["run", "--preset", "cifar10-lt", "--data-dir", str(tmp_path), "--runs-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: The cifar10-lt preset needs CIFAR-10") and err.count("\n") == 1


def _numbers(text: str) -> list[str]:
    return re.findall(r"[−+-]?\d+(?:\.\d+)?", text)


def test_paragraph_numbers_are_the_stored_ones():
    text = what_you_should_see("cifar10-lt", MEASURED)
    assert text == (
        "Measured 2026-12-04 01:00 UTC on the CIFAR-10 JPEG stand-in (cifar10-jpeg) on a 2-core x86_64 CPU (load "
        "average 3.25), one seed: the run took 171 s "
        "with the small CNN, whose smallest per-class train recall was 0.981 (the CNN fitted its training set). "
        "cRT (the control) scored balanced accuracy 0.498; EOS 0.551 (+0.053 vs cRT) and the "
        "best other oversampler, ROS, 0.530 (+0.032). EOS leads it by 0.021. The size–gap Spearman correlation "
        "(nearest-neighbour ratio) is −0.988 (p = 0.005): the smaller the class, the wider the gap. One seed is a "
        "reading, not a verdict: another seed, or another number of torch threads (the app uses one fewer than the "
        "command line), moves these numbers by a few points; train more seeds for intervals.")
    behind = json.loads(json.dumps(MEASURED))
    behind["presets"]["cifar10-lt"]["methods"]["eos"] = {"balanced_accuracy": 0.52, "delta_vs_crt": 0.0219}
    behind["presets"]["cifar10-lt"]["size_gap_spearman_p"] = 0.2
    text = what_you_should_see("cifar10-lt", behind)
    assert "EOS trails it by 0.010." in text and "no clear link between class size and gap" in text
    assert what_you_should_see("digits", {}) == "The digits preset has not been measured on this project's machine yet."


@pytest.mark.parametrize("name", [n for n in PRESETS if n in load_measurements().get("presets", {})])
def test_stored_paragraphs_quote_bench_results(name):
    """The paragraph the app and CLI show equals the stored measurement, number by number."""
    m = load_measurements()["presets"][name]
    text = what_you_should_see(name)
    methods = m["methods"]
    best = max(("ros", "smote", "bsmote", "adasyn"), key=lambda o: methods[o]["balanced_accuracy"])
    expected = [f"{m['wall_s']:.0f}", f"{m['min_train_recall']:.3f}", f"{methods['crt']['balanced_accuracy']:.3f}",
                f"{methods['eos']['balanced_accuracy']:.3f}", f"{methods['eos']['delta_vs_crt']:+.3f}",
                f"{methods[best]['balanced_accuracy']:.3f}", f"{methods[best]['delta_vs_crt']:+.3f}",
                f"{abs(methods['eos']['balanced_accuracy'] - methods[best]['balanced_accuracy']):.3f}",
                f"{m['size_gap_spearman']:+.3f}", f"{m['size_gap_spearman_p']:.3f}"]
    found = [n.replace("−", "-") for n in _numbers(text.split("one seed: ", 1)[1])]
    assert found == expected
    assert m["date"] in text and f"{m['loadavg'][0]:.2f}" in text


def test_estimate_scales_a_measured_step_and_caches_it(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(est, "_memory", {})
    calls = []

    def fake_steps(name, device, *, channels, image_size, num_classes, batch_size, steps):
        calls.append((name, device.type, channels, image_size, batch_size))
        return 0.064  # seconds per step of 128 images -> 0.0005 s per image

    monkeypatch.setattr(est, "_time_steps", fake_steps)
    monkeypatch.setattr(est, "_time_eval", lambda *a, **k: 0.0001)  # seconds per scored image
    cfg = TrainConfig(epochs=30, device="cpu")
    e = est.estimate_phase1(cfg, n_train=4958, channels=3, image_size=32, num_classes=10, n_test=10_000)
    assert calls == [("small_cnn", "cpu", 3, 32, 128)]
    assert (e.model, e.batch_size, e.steps_per_epoch, e.epochs) == ("small_cnn", 128, 39, 30)
    assert e.eval_images_per_epoch == 10_000 + 1000  # the test set + the gap snapshot's 1000 training rows
    assert e.seconds == pytest.approx((0.0005 * 128 * 39 + 0.0001 * 11_000) * 30) and not e.warn  # 182.8 s
    no_snap = est.estimate_phase1(TrainConfig(epochs=30, device="cpu", gap_snapshots=False), n_train=4958,
                                  channels=3, image_size=32, num_classes=10, n_test=10_000)
    assert no_snap.eval_images_per_epoch == 10_000
    assert est.estimate_phase1(TrainConfig(epochs=300, device="cpu"), n_train=4958, channels=3, image_size=32,
                               num_classes=10).warn  # (2.496 + 0.1) x 300 = 779 s > 10 min
    assert len(calls) == 1  # the same model, device and shape: measured once
    saved = json.loads(est.cache_file().read_text())
    assert saved["small_cnn|cpu|32px|3ch"]["seconds_per_image"] == pytest.approx(0.0005)
    assert saved["small_cnn|cpu|32px|3ch"]["eval_seconds_per_image"] == pytest.approx(0.0001)
    monkeypatch.setattr(est, "_memory", {})  # a new process reads the disk cache
    est.estimate_phase1(cfg, n_train=100, channels=3, image_size=32, num_classes=10)
    assert len(calls) == 1
    est.estimate_phase1(cfg, n_train=100, channels=1, image_size=28, num_classes=10)
    assert calls[-1] == ("small_cnn", "cpu", 1, 28, 16) and len(calls) == 2
    saved["small_cnn|cpu|32px|3ch"]["measured"] -= est.CACHE_MAX_AGE_S + 1  # an old disk entry: measured again
    est.cache_file().write_text(json.dumps(saved))
    monkeypatch.setattr(est, "_memory", {})
    est.estimate_phase1(cfg, n_train=100, channels=3, image_size=32, num_classes=10)
    assert len(calls) == 3


def test_a_finished_phase1_calibrates_later_estimates(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(est, "_memory", {})
    monkeypatch.setattr(est, "_time_steps", lambda *a, **k: 0.016)  # 0.001 s per training image at batch 16
    monkeypatch.setattr(est, "_time_eval", lambda *a, **k: 0.0001)
    cfg = TrainConfig(epochs=30, device="cpu")
    sizes = {"n_train": 342, "channels": 1, "image_size": 8, "num_classes": 10, "n_test": 540}
    timed = (0.001 * 16 * 22 + 0.0001 * (540 + 342)) * 30  # 13.2 s
    first = est.estimate_phase1(cfg, **sizes)
    assert first.calibration is None and first.seconds == pytest.approx(timed)
    # nothing timed yet for another shape: nothing recorded
    assert est.record_phase1(cfg, 10.0, **(sizes | {"image_size": 28})) is None
    assert est.record_phase1(cfg, 3 * timed, **sizes) == pytest.approx(3.0)
    assert est.record_phase1(cfg, 5 * timed, **sizes) == pytest.approx(5.0)
    later = est.estimate_phase1(cfg, **sizes)
    assert later.calibration == pytest.approx(4.0) and later.calibration_runs == 2  # the median of 3 and 5
    assert later.seconds == pytest.approx(4 * timed)
    assert later.sentence() == (
        "Phase 1 should take about 53 s here: small CNN on the CPU, 30 epochs × 22 steps of 16 images, plus 882 "
        "images scored after each epoch, from a few steps timed on this machine now, scaled ×4.0: what phase 1 of "
        "the last 2 finished runs of this model and image size took here, over its own timed estimate. Data "
        "loading and phases 2–3 come on top.")
    for ratio in (1, 1, 1, 1, 1):  # only the last five runs count
        est.record_phase1(cfg, ratio * timed, **sizes)
    assert est.estimate_phase1(cfg, **sizes).calibration == pytest.approx(1.0)


def test_estimate_times_real_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(est, "_memory", {})
    e = est.estimate_phase1(TrainConfig(epochs=2, device="cpu"), n_train=342, channels=1, image_size=8,
                            num_classes=10)
    assert e.seconds > 0 and e.steps_per_epoch == 22 and e.batch_size == 16
    assert e.sentence().startswith("Phase 1 should take about ") and "2 epochs × 22 steps of 16 images" in e.sentence()
