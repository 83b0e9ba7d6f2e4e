"""The Streamlit app through AppTest: one real digits run that flows from *Setup & train*
(clicking Train, background job) to *Head accuracy*, with the numbers each page shows compared
with what the run stored (``phase1.json``, ``methods.json``, ``gap.json``).

Nothing the pages exist to show is stubbed: the run is a real (short) digits training with real
oversamplers, heads and UMAP map. Background jobs are awaited on their events, not polled.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from apptest_helpers import JOB_TIMEOUT_S, PAGE2, PAGE3, PAGE4, app, arr, chart_specs, finish, map_specs, ok, same

from eos_core.names import method_name
from ui.jobs import registry

METHODS = ["none", "smote", "eos"]
STORED = ["none", "crt", "smote", "eos"]  # the pipeline adds the control (crt) to every run
MAP_CAP = 250  # synthetic points per oversampler in the saved map (the app's cap, lowered for the test)


@pytest.fixture(scope="module", autouse=True)
def _restore_torch_threads():
    """The app sets torch's thread count once per process (ui.warmup.import_engine); give the
    rest of the test session the count it had."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


# =============================================================================================
# one real digits run, from page 1 to page 4


def _stored(runs: Path, run_id: str, name: str):
    return json.loads((runs / run_id / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Click Train on page 1 (3 epochs, ratio 20, none/smote/eos) and await the background job."""
    mp = pytest.MonkeyPatch()
    runs = tmp_path_factory.mktemp("app-runs")
    mp.setenv("EOS_RUNS_DIR", str(runs))
    import eos_core.maps._compute

    mp.setattr(eos_core.maps._compute, "MAP_SYNTHETIC_MAX", MAP_CAP)  # ~900 per method on digits: sample them
    try:
        at = app()
        at.select_slider(key="setup_ratio").set_value(20)
        at.number_input(key="setup_epochs").set_value(3)
        at.multiselect(key="setup_methods").set_value(METHODS)
        at.button(key="train_button").click().run()
        ok(at)
        job_id = at.query_params["job"]
        assert at.button(key="cancel_button")  # this session controls its job
        job = registry().get(job_id)
        assert job.config["train"]["epochs"] == 3 and job.config["methods"] == METHODS
        # Another session opening the URL while the job runs (a reload elsewhere) gets the form
        # of the running job, and no control over it.
        assert job.wait_for_phase("run", JOB_TIMEOUT_S) is not None
        import ui.state

        with pytest.MonkeyPatch.context() as other_browser:
            # AppTest gives every session one id and no cookies: stand in for another browser, on a
            # server shared on a network (on localhost-only every browser may cancel: test_app_jobs).
            other_browser.setattr(ui.state, "browser_key", lambda: "browser:someone-else")
            other_browser.setattr(ui.state, "local_server", lambda: False)
            other = app(job=job_id)
        ok(other)
        assert other.select_slider(key="setup_ratio").value == 20
        assert other.number_input(key="setup_epochs").value == 3
        assert other.multiselect(key="setup_methods").value == METHODS
        assert "cancel_button" not in [b.key for b in other.button]
        assert other.query_params["run"] == job.run_id  # the running job's run, not a previous one
        finish(at, job_id)
        assert at.success and not at.error, [e.value for e in at.error]
        run_id = at.query_params["run"]
        assert run_id == job.run_id
        yield {"at": at, "run": run_id, "job": job_id, "runs": runs}
    finally:
        mp.undo()


def test_page1_table_equals_the_stored_run(trained) -> None:
    at, runs, rid = trained["at"], trained["runs"], trained["run"]
    assert rid in at.success[0].value
    phase1, methods, gap = (_stored(runs, rid, n) for n in ("phase1", "methods", "gap"))
    df = at.dataframe[0].value
    assert list(df["class"]) == phase1["classes"]
    assert list(df["train n"]) == phase1["train_counts"] and list(df["test n"]) == phase1["test_counts"]
    assert df["train n"].iloc[-1] == int(df["train n"].iloc[0] / 20)
    assert same(df["train recall"], phase1["train_recall"])
    assert list(methods) == STORED
    for m in STORED:  # the test recall of every head, exactly as stored
        assert same(df[method_name(m)], methods[m]["per_class_recall"]), m
    by_class = {r["class"]: r["nn_ratio"] for r in gap["per_class"]}
    assert same(df["gap (nearest-neighbour ratio)"], [by_class[c] for c in range(len(df))])
    summary = at.dataframe[1].value
    assert [m.removesuffix(" ★") for m in summary["method"]] == [method_name(m) for m in STORED]
    for col, key in (("balanced acc", "balanced_accuracy"), ("g-mean", "g_mean"), ("macro-F1", "macro_f1")):
        assert same(summary[col], [methods[m][key] for m in STORED]), col
        # the paired difference from cRT, as the pipeline stored it (none for cRT itself)
        assert same(summary[f"Δ {col} vs cRT"], [(methods[m].get("delta_vs_crt") or {}).get(key) for m in STORED])
    assert list(summary["synthetic points"]) == [methods[m]["n_synthetic"] for m in STORED]


def test_reload_reattaches_and_sessions_are_isolated(trained) -> None:
    again = app(job=trained["job"], run=trained["run"])  # a reload: a new session, same URL
    ok(again)
    assert again.success and trained["run"] in again.success[0].value
    assert not again.warning  # the job is known: no "server restarted" banner
    other = app()  # another browser session: no job of its own
    ok(other)
    assert not other.success and "cancel_button" not in [b.key for b in other.button]
    assert "job" not in other.query_params


def test_a_job_lost_in_a_restart_is_named_with_what_it_kept(trained) -> None:
    # The server restarted (jobs live in memory): its job id is unknown, but its run recorded it
    # (job.json): the banner names the run and what it kept, with or without the run in the URL.
    job_id = trained["job"]
    registry().forget(job_id)  # finished: the registry drops it as a restart would
    for query in ({"job": job_id, "run": trained["run"]}, {"job": job_id}):
        lost = app(**query)
        ok(lost)
        text = " ".join(i.value for i in lost.info)
        assert f"The job {job_id} is no longer on this server (it restarted since)." in text, query
        assert trained["run"] in text
        assert "phase 1 is complete" in text and "re-trained heads kept for none, crt, smote, eos" in text
        assert "job" not in lost.query_params
    # An id no run records never existed here: said so, not "stopped when the server restarted".
    for query in ({"job": "0123456789abcdef", "run": trained["run"]}, {"job": "fedcba9876543210"}):
        never = app(**query)
        ok(never)
        assert [w.value for w in never.warning] == [
            f"No job {query['job']} exists on this server, and no run in the store was made by it. "
            "Start one with **Train** on *Setup & train*."], query
        assert not never.info


def test_page2_gap_bars_equal_gap_json(trained) -> None:
    at = app(PAGE2, run=trained["run"])
    ok(at)
    charts = chart_specs(at)
    assert {"gap_bars", "gap_epochs"} <= set(charts) and "gap_anim" not in charts
    m = map_specs(at)["gap_map"]
    assert "UMAP" in m["args"]["title"]  # the map saved by the training job, not a preview
    pts = m["points"]
    assert pts["id"].is_unique and set(pts["split"]) == {"train", "test"}
    # every point sits where the run's saved map put it (ids: train row r -> r, test row r -> n_train + r)
    from eos_core.store import RunStore, load_map

    saved = load_map(RunStore(trained["runs"]), trained["run"])
    n_train = len(saved.train)
    train, test = pts[pts["split"] == "train"], pts[pts["split"] == "test"]
    np.testing.assert_array_equal(train[["x", "y"]].to_numpy(), saved.train[train["id"].to_numpy()])
    np.testing.assert_array_equal(test[["x", "y"]].to_numpy(), saved.test[test["id"].to_numpy() - n_train])
    # below the cap every point is drawn: per class, as many train and test points as the run has
    meta = _stored(trained["runs"], trained["run"], "phase1")
    drawn = pts.groupby(["class_name", "split"]).size()
    assert [int(drawn[(c, "train")]) for c in meta["classes"]] == meta["train_counts"]
    assert [int(drawn[(c, "test")]) for c in meta["classes"]] == meta["test_counts"]

    gap = _stored(trained["runs"], trained["run"], "gap")
    counts = _stored(trained["runs"], trained["run"], "phase1")["train_counts"]
    order = sorted(range(len(counts)), key=lambda c: (-counts[c], c))  # bars: largest class first
    rows = {r["class"]: r for r in gap["per_class"]}
    bars = {t["meta"]: t for t in charts["gap_bars"]["data"]}
    measures = [mm for mm in ("centroid_ratio", "nn_ratio", "nn1_recall_gap")
                if any(rows[c].get(mm) is not None for c in rows)]
    assert [t["meta"] for t in charts["gap_bars"]["data"] if t["meta"] in measures] == measures and measures
    for mm in measures:  # values, null bands, p-values and significance marks exactly as gap.json stores them
        assert same(arr(bars[mm]["y"]), [rows[c][mm] for c in order]), mm
        assert same(arr(bars[mm]["customdata"]), [rows[c][f"{mm}_p"] for c in order]), mm
        band = bars[f"{mm} band"]
        assert same(arr(band["base"]), [rows[c][f"{mm}_p5"] for c in order]), mm
        ends = arr(band["customdata"])  # (C, 2): the band's ends as stored (the bar height is their difference)
        assert same(ends[:, 0], [rows[c][f"{mm}_p5"] for c in order]), mm
        assert same(ends[:, 1], [rows[c][f"{mm}_p95"] for c in order]), mm
        labels = list(bars[mm]["x"])
        sig = [labels[i] for i, c in enumerate(order) if rows[c][f"{mm}_p"] is not None and rows[c][f"{mm}_p"] < 0.05]
        assert list(bars[f"{mm} significant"]["x"]) == sig, mm
        assert set(arr(bars[f"{mm} no gap"]["y"])) == {1.0 if mm.endswith("ratio") else 0.0}
    titles = [a["text"] for a in charts["gap_bars"]["layout"]["annotations"]]
    for mm, title in zip(measures, titles, strict=True):
        rho, p = gap["size_gap_spearman"][mm], gap["size_gap_spearman_p"][mm]
        assert title.endswith(f"= {rho:+.2f} (p = {p:.3f})"), (mm, title)
    head = charts["gap_head"]["data"][0]  # the head's recall gap, apart and without a band
    assert same(arr(head["y"]), [rows[c]["head_recall_gap"] for c in order])
    text = " ".join(m.value for m in at.markdown)
    assert "centre of the class's other training points" in text and "class centre" not in text
    at.toggle(key="gap_animate").set_value(True).run()  # the animation is drawn only when asked for
    ok(at)
    assert len(chart_specs(at)["gap_anim"]["frames"]) >= 2


def test_page3_synthetic_inspector(trained) -> None:
    at = app(PAGE3, run=trained["run"])
    ok(at)
    charts, maps = chart_specs(at), map_specs(at)
    assert {"syn_enemy_share", "syn_closure"} <= set(charts) and {"syn_sel_eos", "syn_sel_smote"} <= set(maps)
    from eos_core.store import RunStore, load_map

    saved = load_map(RunStore(trained["runs"]), trained["run"])
    n_real = len(saved.train) + len(saved.test)
    for m in ("eos", "smote"):
        pts = maps[f"syn_sel_{m}"]["points"]
        syn = pts[pts["split"] == "synthetic"]
        real = pts[pts["split"] != "synthetic"]
        # one id scheme: synthetic row s -> n_train + n_test + s, after every real id (no collisions)
        assert len(syn) and pts["id"].is_unique and syn["id"].min() >= n_real > real["id"].max()
        # the rows the saved map placed (a seeded sample, capped for this test) sit where it put them
        rows = saved.synthetic_rows[m]
        assert len(rows) == MAP_CAP
        at_saved = syn.set_index("id").loc[n_real + rows.astype(int), ["x", "y"]].to_numpy()
        np.testing.assert_array_equal(at_saved, saved.synthetic[m])
        # base -> partner segments for a sample of 40 synthetic points (4 coordinates each)
        assert len(maps[f"syn_sel_{m}"]["args"]["segments"]) == 4 * 40
    assert "enemy" in " ".join(c.value for c in at.caption)
    charts = chart_specs(at)
    closure = charts["syn_closure"]
    assert [t["name"] for t in closure["data"]] == [method_name(m) for m in ("eos", "smote")]
    from ui.labels import method_color

    assert [t["marker"]["color"] for t in closure["data"]] == [method_color(m) for m in ("eos", "smote")]
    methods = _stored(trained["runs"], trained["run"], "methods")
    counts = _stored(trained["runs"], trained["run"], "phase1")["train_counts"]
    order = sorted(range(len(counts)), key=lambda c: (-counts[c], c))  # classes largest first
    for key, chart in (("nn_gap_closed", "syn_closure"), ("nn1_recall_change", "syn_nn1_change")):
        for t, m in zip(charts[chart]["data"], ("eos", "smote"), strict=True):  # the run's k: the stored values
            assert same(arr(t["y"]), [methods[m][key][c] for c in order]), (key, m)
    shares = charts["syn_enemy_share"]["data"][0]
    assert same(arr(shares["y"]), [methods[m]["enemy_share"] for m in ("eos", "smote")])
    partners = charts["syn_partner_share"]["data"]  # every generating method records its partners
    assert [t["meta"] for t in partners] == ["enemy", "self", "same_class"]
    assert [arr(t["y"]).tolist() for t in partners] == [[methods[m]["partner_share"][k] for m in ("eos", "smote")]
                                                       for k in ("enemy", "self", "same_class")]
    assert methods["smote"]["partner_share"] == {"enemy": 0.0, "self": 0.0, "same_class": 1.0}
    assert any("copies" in i.value for i in at.info)  # why ROS closes nothing
    at.slider(key="syn_k").set_value(3).run()  # another k: resampled on the fly
    ok(at)
    assert "syn_sel_eos" in map_specs(at)


@pytest.fixture(scope="module")
def second_seed(trained) -> str:
    """Page 4's "Train 1 more seed" button: a background seeds job (ui.training.start_seeds) for
    the same config with the first free seed (1). Its map is saved with it, by the engine."""
    at = app(PAGE4, run=trained["run"])
    at.number_input(key="more_seeds").set_value(1)
    at.button(key="more_seeds_button").click().run()
    ok(at)
    job = registry().get(at.query_params["job"])
    assert job.kind == "seeds"
    assert job.wait(JOB_TIMEOUT_S) and job.status == "finished", job.error
    (run_id,) = job.result["run_ids"]
    return run_id


def test_start_seeds_stores_what_the_cli_pipeline_computes(trained, second_seed) -> None:
    from eos_core import pipeline
    from eos_core.config import RunConfig
    from eos_core.store import RunStore

    store = RunStore(trained["runs"])
    rec = store.get_run(second_seed)
    assert rec.status == "finished"
    assert [rec.config[p]["seed"] for p in ("data", "train", "head")] == [1, 1, 1]
    first = store.get_run(trained["run"]).config
    for p in ("data", "train", "head"):
        first[p]["seed"] = 1
    assert rec.config == first  # the same config up to the seed
    # The engine's pipeline on that config (what `python -m eos_core run` does) gives the numbers
    # the app stored, to the last bit -- with the same torch thread count as the app's job (another
    # count changes the order of float sums, and so the last bits; an earlier test may have set it).
    from ui.warmup import pin_torch_threads

    pin_torch_threads()
    direct = pipeline.run_pipeline(RunConfig.from_dict(rec.config))
    stored = _stored(trained["runs"], second_seed, "methods")
    assert list(stored) == list(direct.methods) == STORED
    for m, res in direct.methods.items():
        for key in ("balanced_accuracy", "g_mean", "macro_f1", "per_class_recall", "confusion"):
            assert stored[m][key] == res.metrics[key], (m, key)
        assert stored[m]["n_synthetic"] == res.n_synthetic


def test_page4_table_equals_methods_json(trained, second_seed) -> None:
    from eos_core.evaluation import aggregate

    at = app(PAGE4, run=trained["run"])
    ok(at)
    methods = _stored(trained["runs"], trained["run"], "methods")
    table = at.dataframe[0].value
    assert [m.removesuffix(" ★") for m in table["method"]] == [method_name(m) for m in STORED]
    for col, key in (("balanced acc", "balanced_accuracy"), ("g-mean", "g_mean"), ("macro-F1", "macro_f1"),
                     ("seconds (phases 2–3)", "seconds")):
        assert same(table[col], [methods[m][key] for m in STORED]), col
    for col, key in (("balanced acc", "balanced_accuracy"), ("g-mean", "g_mean"), ("macro-F1", "macro_f1")):
        assert same(table[f"Δ {col} vs cRT"], [(methods[m].get("delta_vs_crt") or {}).get(key) for m in STORED])
    best = max(methods[m]["balanced_accuracy"] for m in STORED)
    starred = [m for m, name in zip(STORED, table["method"], strict=True) if name.endswith("★")]
    assert starred == [m for m in STORED if round(methods[m]["balanced_accuracy"], 4) == round(best, 4)]
    assert any("on the test set (a reading, not a model selection)" in c.value for c in at.caption)
    charts = chart_specs(at)
    assert {"recall_heatmap", "confusion_crt", "seeds_delta", "seeds_scores"} <= set(charts)
    z = arr(charts["recall_heatmap"]["data"][0]["z"])
    assert z.shape == (len(STORED), len(methods["none"]["per_class_recall"]))
    counts = _stored(trained["runs"], trained["run"], "phase1")["train_counts"]
    order = sorted(range(len(counts)), key=lambda c: (-counts[c], c))
    for row, m in zip(z, STORED, strict=True):
        assert same(row, [methods[m]["per_class_recall"][c] for c in order]), m
    # Two seeds of one config: the engine's aggregate (paired Δ vs cRT, 95 % t-interval), drawn as is.
    other = _stored(trained["runs"], second_seed, "methods")
    agg = aggregate([methods, other])["methods"]
    dots = charts["seeds_delta"]["data"][-1]
    retrained = [m for m in STORED if m != "crt"]
    assert list(dots["x"]) == [method_name(m) for m in retrained]
    d = [agg[m]["delta_vs_crt"]["balanced_accuracy"] for m in retrained]
    assert arr(dots["y"]).tolist() == [v["mean"] for v in d]
    assert arr(dots["customdata"]).tolist() == [[v["low"], v["high"]] for v in d]
    scores = charts["seeds_scores"]["data"][-1]
    assert arr(scores["y"]).tolist() == [agg[m]["metrics"]["balanced_accuracy"]["mean"] for m in STORED]
    seeds = at.dataframe[-1].value
    assert list(seeds["seeds"]) == [2] * len(STORED)
    assert same(seeds["Δ vs cRT mean"], [agg[m]["delta_vs_crt"]["balanced_accuracy"]["mean"] if m != "crt" else None
                                         for m in STORED])
    labels = [b.label for b in at.get("download_button")]
    assert "Download table (CSV)" in labels and "Download figure (HTML)" in labels


def test_page2_pca_preview_until_the_umap_map_is_saved(trained, second_seed) -> None:
    run_dir = trained["runs"] / second_seed
    assert (run_dir / "projection_umap.npz").exists()  # the seeds job saved the run's map
    for name in ("projection_umap.npz", "projection_umap_rows.npz"):
        (run_dir / name).unlink()  # now it is a run saved before maps were part of runs
    at = app(PAGE2, run=second_seed)
    ok(at)
    assert "PCA preview" in map_specs(at)["gap_map"]["args"]["title"]
    assert any("UMAP map is being computed" in c.value for c in at.caption)
    job = registry().find(f"map:{trained['runs']}:{second_seed}")
    assert job is not None and job.kind == "map"
    finish(at, job.id)
    assert job.status == "finished", job.error
    assert "UMAP" in map_specs(at)["gap_map"]["args"]["title"]
    assert (trained["runs"] / second_seed / "projection_umap.npz").exists()


def test_cancel_stops_the_job(trained) -> None:
    from eos_core.store import RunStore

    before = {r.id for r in RunStore(trained["runs"]).list_runs()}
    at = app(run=trained["run"])
    at.number_input(key="setup_epochs").set_value(200)
    at.button(key="train_button").click().run()
    ok(at)
    job = registry().get(at.query_params["job"])
    assert job.wait_for_phase("train", JOB_TIMEOUT_S) is not None  # phase 1 is training: its run exists
    at.run()
    at.button(key="cancel_button").click().run()
    finish(at, job.id)
    assert job.status == "cancelled" and any("cancelled" in w.value for w in at.warning)
    new = [r for r in RunStore(trained["runs"]).list_runs() if r.id not in before]
    assert [r.id for r in new] == [job.run_id] and new[0].status == "cancelled"
