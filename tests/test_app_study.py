"""Page 5 (Ratio study) shows the stored study's numbers; page 4's run comparison names runs by what differs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from apptest_helpers import app, arr, chart_specs, ok, same

from eos_core.config import DataConfig, HeadConfig, RunConfig, TrainConfig
from eos_core.run_labels import run_labels
from eos_core.store import RunStore
from eos_core.study import StudyConfig, run_study

PAGE5 = "app_pages/5_study.py"
PAGE4 = "app_pages/4_heads.py"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A small two-ratio, two-seed digits study in its own runs folder (EOS_RUNS_DIR for the module)."""
    root = tmp_path_factory.mktemp("study-runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("EOS_RUNS_DIR", str(root))
    base = RunConfig(data=DataConfig(max_per_class=30), train=TrainConfig(epochs=1), head=HeadConfig(epochs=1),
                     methods=["none", "smote", "eos"])
    rec = run_study(StudyConfig(base=base, ratios=[1, 10], seeds=[0, 1]), store=RunStore(root)).record
    yield rec, root
    mp.undo()


def test_page_shows_the_stored_study(study):
    rec, runs_dir = study
    at = app(PAGE5, study=rec.study_id)
    ok(at)
    assert at.selectbox(key="study_pick").value == rec.study_id
    specs = chart_specs(at)
    rows = rec.summary["ratios"]
    # (a) one line per ρ: x the classes' training sizes, y their nearest-neighbour ratio, smallest first
    lines = [t for t in specs["study_gap"]["data"] if t.get("mode") == "lines+markers"]
    assert [t["name"] for t in lines] == ["ρ=1 (2 seeds)", "ρ=10 (2 seeds)"]
    for t, r in zip(lines, rows, strict=True):
        order = np.argsort(r["train_count"], kind="stable")
        assert same(arr(t["x"]), np.asarray(r["train_count"])[order])
        assert same(arr(t["y"]), [r["gap"]["nn_ratio"][i] for i in order])
    # (b) Δ balanced accuracy vs cRT per method against ρ, with the stored t-intervals
    traces = {t["name"]: t for t in specs["study_delta"]["data"]}
    assert list(traces) == ["phase-1 head", "SMOTE", "EOS"]
    for name, m in (("phase-1 head", "none"), ("SMOTE", "smote"), ("EOS", "eos")):
        t = traces[name]
        ivs = [r["methods"][m]["delta_vs_crt"]["balanced_accuracy"] for r in rows]
        assert same(arr(t["x"]), [1.0, 10.0])
        assert same(arr(t["y"]), [iv["mean"] for iv in ivs])
        assert np.allclose(arr(t["error_y"]["array"]), [iv["high"] - iv["mean"] for iv in ivs])
        assert np.allclose(arr(t["error_y"]["arrayminus"]), [iv["mean"] - iv["low"] for iv in ivs])
    table = at.dataframe[0].value  # the Δ table, then the runs table
    assert list(table.columns) == ["method", "ρ=1", "ρ=10"]
    eos = table[table["method"] == "EOS"].iloc[0]
    assert [eos["ρ=1"], eos["ρ=10"]] == [r["methods"]["eos"]["delta_vs_crt"]["balanced_accuracy"]["mean"]
                                        for r in rows]
    # the sentence's Spearman numbers are the stored ones
    rho = rows[1]["size_gap_spearman"]["nn_ratio"]
    caption = next(c.value for c in at.caption if "Spearman" in c.value)
    sizes = f"{min(rows[1]['train_count'])}–{max(rows[1]['train_count'])}"
    assert f"ρ=10 (class sizes {sizes}): {rho:+.2f}" in caption
    ps = rows[1]["size_gap_spearman_p"]["nn_ratio"]  # each seed's p, from that seed's gap.json
    gaps = [json.loads((runs_dir / rid / "gap.json").read_text()) for rid in rows[1]["run_ids"]]
    assert ps == [g["size_gap_spearman_p"]["nn_ratio"] for g in gaps] and len(ps) == 2
    assert f"{rho:+.2f}, permutation p per seed {ps[0]:.3f}, {ps[1]:.3f}" in caption
    assert "undefined where every class has the same size" in caption  # ρ=1 with a 30-image cap
    ticks = specs["study_gap"]["layout"]["xaxis"]["tickvals"]
    assert min(ticks) <= min(rows[1]["train_count"]) * 1.5 and max(ticks) >= 30 / 1.5
    # the runs are named by what differs, never by id
    runs = at.dataframe[1].value
    assert list(runs["run"]) == ["ρ=1 · seed 0", "ρ=1 · seed 1", "ρ=10 · seed 0", "ρ=10 · seed 1"]
    assert not any(r["run_id"] in " ".join(c.value for c in at.caption) for r in rec.runs)
    from eos_core.store import load_method_summary, load_phase1_summary

    store = RunStore(study[1])
    assert list(runs["phase-1 head balanced acc"]) == [
        load_phase1_summary(store, r["run_id"])["metrics"]["balanced_accuracy"] for r in rec.runs]
    assert list(runs["cRT balanced acc"]) == [
        load_method_summary(store, r["run_id"])["crt"]["balanced_accuracy"] for r in rec.runs]


def test_a_damaged_study_record_is_one_warning_and_the_others_open(study):
    rec, root = study
    bad = root / "studies" / "20200101-000000-abcdef.json"
    bad.write_text("{not json")
    try:
        at = app(PAGE5, study="20200101-000000-abcdef")
        ok(at)
        assert [w.value for w in at.warning] == [
            "1 study record(s) could not be read and are not listed (their runs still are)."]
        assert at.selectbox(key="study_pick").value == rec.study_id
    finally:
        bad.unlink()


def test_compare_runs_table_names_runs_by_what_differs(study):
    rec, _ = study
    first = rec.runs[0]["run_id"]
    at = app(PAGE4, run=first)
    ok(at)
    others = [r["run_id"] for r in rec.runs[1:]]
    at.multiselect(key="compare_runs").set_value(others).run()
    ok(at)
    table = at.dataframe[-1].value  # the expander is last on the page
    assert list(table.columns) == ["ρ=1 · seed 0", "ρ=1 · seed 1", "ρ=10 · seed 0", "ρ=10 · seed 1"]
    store = RunStore(study[1])
    assert list(table.columns) == run_labels([store.get_run(r["run_id"]).config for r in rec.runs])
    from eos_core.store import load_method_summary

    for col, r in zip(table.columns, rec.runs, strict=True):
        stored = load_method_summary(store, r["run_id"])["eos"]["balanced_accuracy"]
        assert math.isclose(table.loc["EOS", col], round(stored, 4))


def test_gap_axis_ticks_are_1_2_5_over_the_class_sizes():
    from ui.figures.study import log_ticks

    assert log_ticks(2, 180) == [2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0]
    assert log_ticks(122, 124) == [100.0, 122.0, 124.0]  # ρ=1 on digits: the ends of a narrow range too
