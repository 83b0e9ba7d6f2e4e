"""The verdict on *Embedding gap* and *Head accuracy* (AppTest), and the fixes around it: one
collapsed notice per method, the seeds section that follows its job, "—" for cRT's own Δ, whole
epoch ticks and unclipped legends on the gap-over-epochs chart.

The runs are real (a short digits pipeline with SMOTE, ADASYN and EOS); every sentence a page shows
is compared with :func:`eos_core.evaluation.verdict` on the files the runs stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from apptest_helpers import JOB_TIMEOUT_S, PAGE2, PAGE4, app, ok
from verdict_check import check_sentences

from eos_core.evaluation import verdict
from ui.jobs import registry

METHODS = ["smote", "adasyn", "eos"]


@pytest.fixture(scope="module", autouse=True)
def _restore_torch_threads():
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    """One digits run (seed 0, ρ=50, 6 epochs: ADASYN skips classes) with its map, in the app's runs folder."""
    from eos_core.config import DataConfig, HeadConfig, RunConfig, TrainConfig
    from eos_core.pipeline import run_pipeline
    from eos_core.store import RunStore

    mp = pytest.MonkeyPatch()
    runs = tmp_path_factory.mktemp("verdict-runs")
    mp.setenv("EOS_RUNS_DIR", str(runs))
    cfg = RunConfig(data=DataConfig(dataset="digits", ratio=50), train=TrainConfig(epochs=6),
                    head=HeadConfig(epochs=2), methods=list(METHODS)).with_seed(0)
    res = run_pipeline(cfg, store=RunStore(runs))
    yield {"runs": runs, "run": res.phase1.run_id}
    mp.undo()


def stored_verdict(runs: Path, run_id: str, per_seed_ids: list[str]) -> dict:
    def read(rid: str, name: str) -> dict:
        return json.loads((runs / rid / f"{name}.json").read_text())

    return verdict(read(run_id, "gap"), [read(r, "methods") for r in per_seed_ids],
                   classes=read(run_id, "phase1")["classes"])


def shown_verdict(at) -> dict[str, str]:
    """The verdict sentences on the page: the markdown right after each part's heading."""
    texts = [m.value for m in at.markdown]
    out = {}
    for part, head in (("gap", "Does the gap widen for smaller classes?"),
                       ("oversampling", "Does EOS beat the other oversamplers?")):
        i = next(i for i, t in enumerate(texts) if head in t)
        out[part] = texts[i + 1]
    return out


def test_page4_and_page2_show_the_engines_verdict_and_one_notice_per_method(one_run) -> None:
    runs, rid = one_run["runs"], one_run["run"]
    expected = stored_verdict(runs, rid, [rid])
    at = app(PAGE4, run=rid)
    ok(at)
    shown = shown_verdict(at)
    assert shown == {p: expected[p]["sentence"] for p in ("gap", "oversampling")}
    check_sentences(expected, shown)
    assert expected["oversampling"]["call"] == "not yet a verdict"
    assert any("**Not yet a verdict.**" in m.value for m in at.markdown)
    assert at.button(key="verdict_seeds_button").label == "Train 2 more seeds of this configuration for a verdict"
    # ADASYN's warnings (two wordings per skipped class) are one collapsed notice with counts
    notes = json.loads((runs / rid / "methods.json").read_text())["adasyn"]["warnings"]
    assert len(notes) >= 2
    labels = [e.label for e in at.expander]
    adasyn = [lb for lb in labels if lb.startswith("ADASYN:")]
    assert len(adasyn) == 1 and adasyn[0].startswith(f"ADASYN: {len(notes)} notices about ")
    assert not [w for w in at.warning if "ADASYN" in w.value]
    # Embedding gap leads with the gap part of the same verdict
    at2 = app(PAGE2, run=rid)
    ok(at2)
    assert shown_verdict(at2) == {p: expected[p]["sentence"] for p in ("gap", "oversampling")}
    texts = [m.value for m in at2.markdown]
    assert texts.index(expected["gap"]["sentence"]) < texts.index(expected["oversampling"]["sentence"])


def test_the_verdict_button_trains_the_missing_seeds_and_the_page_follows(one_run) -> None:
    from eos_core.store import RunStore

    runs, rid = one_run["runs"], one_run["run"]
    at = app(PAGE4, run=rid)
    at.button(key="verdict_seeds_button").click().run()
    ok(at)
    job = registry().get(at.query_params["job"])
    assert job.kind == "seeds" and job.label.endswith("seeds 1, 2")
    if job.active:  # the seeds section watches its job (a fragment that reruns the page when a seed ends)
        assert any("This page updates itself" in c.value for c in at.caption)
    assert job.wait(JOB_TIMEOUT_S) and job.status == "finished", job.error
    at.run()
    ok(at)
    ids = [rid, *job.result["run_ids"]]
    assert {RunStore(runs).get_run(r).config["train"]["seed"] for r in ids} == {0, 1, 2}
    expected = stored_verdict(runs, rid, ids)
    o = expected["oversampling"]
    assert o["seeds"] == 3 and o["call"] in ("EOS ahead", "EOS behind", "no clear difference")
    assert shown_verdict(at) == {p: expected[p]["sentence"] for p in ("gap", "oversampling")}
    check_sentences(expected)
    assert "verdict_seeds_button" not in [b.key for b in at.button]
    from eos_core.evaluation import aggregate

    seeds = at.dataframe[-1].value.set_index("method")  # cRT's own Δ reads "—", the others the stored numbers
    agg = aggregate([json.loads((runs / r / "methods.json").read_text()) for r in ids])["methods"]
    assert seeds.loc["cRT", "Δ vs cRT mean"] == "—" and list(seeds["seeds"]) == [3] * len(seeds)
    assert float(seeds.loc["EOS", "Δ vs cRT mean"]) == agg["eos"]["delta_vs_crt"]["balanced_accuracy"]["mean"]
    table = at.dataframe[0].value
    table = table.set_index(table["method"].str.removesuffix(" ★"))
    assert (table.loc["cRT", "Δ balanced acc vs cRT"] == "—"
            and float(table.loc["EOS", "Δ balanced acc vs cRT"]) == json.loads(
                (runs / rid / "methods.json").read_text())["eos"]["delta_vs_crt"]["balanced_accuracy"])


def test_seeds_view_shows_a_dash_not_none() -> None:
    from ui.figures.heads import NO_VALUE, seeds_view

    view = pd.DataFrame({"method": ["cRT", "EOS"], "Δ vs cRT mean": [np.nan, 0.0123], "mean": [0.8, 0.81]})
    html = seeds_view(view).to_html()
    assert html.count(NO_VALUE) == 1 and "+0.0123" in html and "None" not in html and "nan" not in html


def test_group_notices_one_entry_per_wording() -> None:
    from ui.results import group_notices

    notes = [f"ADASYN generated no samples for class {c}: Not any neigbours belong to the majority class." for c in
             (7, 8, 9)] + [f"ADASYN made no synthetic points for class '{c}' ({n} training points)." for c, n in
                           ((7, 5), (8, 3), (9, 2))] + ["k_neighbors=10 reduced to 4 for EOS: only 5 samples."]
    assert group_notices(notes) == [
        ("ADASYN generated no samples for class …: Not any neigbours belong to the majority class.", ["7", "8", "9"]),
        ("ADASYN made no synthetic points for class … (… training points).", ["7", "8", "9"]),
        ("k_neighbors=… reduced to … for EOS: only … samples.", []),
    ]


def test_gap_over_epochs_has_whole_epoch_ticks_and_full_legend_names() -> None:
    from ui.figures.gap import gap_over_epochs

    hist = [{"epoch": e, "gap": {"nn_ratio": [1.0 + 0.1 * e, 1.2]}} for e in (1, 2, 3)]
    fig = gap_over_epochs(hist, classes=["automobile", "truck"], train_counts=[2397, 50], metric="nn_ratio",
                          legend="below")
    x = fig.layout.xaxis
    assert (x.tickmode, x.tick0, x.dtick, tuple(x.range)) == ("linear", 1, 1, (0.5, 3.5))
    assert fig.layout.legend.entrywidth is None  # entries as wide as their names
    assert [t.name for t in fig.data] == ["truck · n=50", "automobile · n=2397"]
    from ui.figures.training import training_curve

    curve = training_curve([{"epoch": e, "loss": 1.0 / e, "test_bacc": 0.5} for e in (1, 2, 3)]).layout.xaxis
    assert (curve.tickmode, curve.tick0, curve.dtick) == ("linear", 1, 1)  # the chart beside it, too
    long = [{"epoch": e, "gap": {"nn_ratio": [1.0, 1.0]}} for e in range(1, 31)]
    assert gap_over_epochs(long, classes=None, train_counts=[9, 3], metric="nn_ratio").layout.xaxis.dtick == 3


def test_page2_without_runs_or_heads_still_says_so(one_run) -> None:
    """A run with phase 1 only: the verdict's oversampling part is a sentence, not an error."""
    from eos_core.config import DataConfig, RunConfig, TrainConfig
    from eos_core.pipeline import run_phase1
    from eos_core.store import RunStore

    cfg = RunConfig(data=DataConfig(dataset="digits", ratio=5), train=TrainConfig(epochs=1)).with_seed(0)
    p1 = run_phase1(cfg, store=RunStore(one_run["runs"]))
    at = app(PAGE2, run=p1.run_id)
    ok(at)
    shown = shown_verdict(at)
    assert shown["oversampling"].endswith("no re-trained heads are stored yet, so there is nothing to compare.")
    gap = json.loads((one_run["runs"] / p1.run_id / "gap.json").read_text())
    assert shown["gap"] == verdict(gap, [], classes=p1.classes)["gap"]["sentence"]


@pytest.mark.parametrize("link", ["nonexistent", "20990101-000000-abcdef"])
def test_a_link_to_a_run_the_store_lacks_says_so(one_run, link) -> None:
    """A ``?run=`` the store does not hold (garbage, or a well-formed id of no run): one sentence, then
    the newest run, never a silent switch."""
    at = app(PAGE4, run=link)
    ok(at)
    assert [w.value for w in at.warning if "There is no run" in w.value] == [
        f"There is no run “{link}” in this run store; showing the newest run."]
    assert at.query_params["run"] == at.selectbox(key="run_pick_widget").value
    at.run()  # said once: the page now shows the newest run without repeating it
    assert not [w for w in at.warning if "There is no run" in w.value]


def test_page4_names_the_classes_crt_misses_from_the_stored_recalls(one_run) -> None:
    from eos_core.evaluation import control_missed_classes

    methods = json.loads((one_run["runs"] / one_run["run"] / "methods.json").read_text())
    classes = json.loads((one_run["runs"] / one_run["run"] / "phase1.json").read_text())["classes"]
    missed = control_missed_classes(methods)
    at = app(PAGE4, run=one_run["run"])
    ok(at)
    notes = [c.value for c in at.caption if c.value.startswith("⚠️ cRT's head gets recall 0 on")]
    if missed:
        names = ", ".join(f"“{classes[c]}”" for c in missed)
        assert notes == [f"⚠️ cRT's head gets recall 0 on {names} (too few training images for a fresh head), so "
                         "cRT's g-mean is 0 and every Δ g-mean is just the method's own g-mean: compare balanced "
                         "accuracy here."]
    else:
        assert notes == []
