import json
import subprocess
import sys

import pytest


def _cli(*args, runs_dir, timeout=300):
    return subprocess.run([sys.executable, "-m", "eos_core", *args, "--runs-dir", str(runs_dir)],
                          capture_output=True, text=True, timeout=timeout)


def test_train_json_on_digits(tmp_path):
    out = _cli("train", "--dataset", "digits", "--ratio", "50", "--epochs", "5", "--seed", "0", "--json",
               runs_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert set(res) >= {"run_id", "train_counts", "test_counts", "phase1", "timings"}
    assert res["train_counts"][0] >= 5 * res["train_counts"][9]
    assert len(res["test_counts"]) == 10 and sum(res["test_counts"]) == 540
    assert set(res["phase1"]) >= {"balanced_accuracy", "g_mean", "macro_f1", "per_class_recall"}
    assert len(res["phase1"]["per_class_recall"]) == 10
    assert set(res["timings"]) >= {"phase1_s", "embed_s"}
    listed = _cli("list", "--json", runs_dir=tmp_path)
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [res["run_id"]]


def test_train_prints_per_class_table(tmp_path):
    out = _cli("train", "--epochs", "2", runs_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "test recall" in out.stdout and "balanced accuracy" in out.stdout
    assert len([ln for ln in out.stdout.splitlines() if ln.strip().startswith(tuple("0123456789"))]) >= 10


@pytest.mark.parametrize("args, needle", [
    (["train", "--ratio", "0"], "between 1 and 1000"),
    (["train", "--ratio", "5000"], "between 1 and 1000"),
    (["train", "--dataset", "imagenet"], "invalid choice"),
    (["train", "--epochs", "zero"], "invalid int value"),
    (["run", "--methods", "eos,magic"], "unknown method"),
    (["run", "--seeds", "0,x"], "seeds must be comma-separated integers"),
    (["run", "--seeds", "1,1"], "seeds must be distinct"),
    (["train", "--dataset", "fashion-mnist", "--data-dir", "{tmp}/no-data"], "could not be downloaded"),
])
def test_bad_arguments_exit_nonzero_with_one_line(tmp_path, args, needle):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = _cli(*args, runs_dir=tmp_path / "runs", timeout=120)
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, out.stderr
    assert needle in lines[0]


TINY = ["--dataset", "digits", "--ratio", "10", "--max-per-class", "30", "--epochs", "2", "--head-epochs", "2"]


def test_run_seeds_json_has_every_run_and_the_paired_aggregate(tmp_path):
    out = _cli("run", *TINY, "--seeds", "0,1", "--methods", "none,eos_published", "--json", runs_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert set(res) == {"seeds", "runs", "aggregate", "verdict"} and res["seeds"] == [0, 1]
    assert res["verdict"]["oversampling"]["call"] == "no comparison"  # no EOS as in the paper among the methods
    assert [r["seed"] for r in res["runs"]] == [0, 1]
    assert len({r["run_id"] for r in res["runs"]}) == 2
    listed = json.loads(_cli("list", "--json", runs_dir=tmp_path).stdout)
    assert {r["run_id"] for r in listed} == {r["run_id"] for r in res["runs"]}
    assert all(r["config"]["data"]["seed"] == r["config"]["train"]["seed"] == r["config"]["head"]["seed"]
               for r in listed)
    for run in res["runs"]:
        assert list(run["methods"]) == ["none", "crt", "eos_published"]
        m = run["methods"]
        assert set(m["eos_published"]["partner_share"]) == {"enemy", "self", "same_class"}
        assert m["crt"]["delta_vs_crt"] is None
        assert m["eos_published"]["delta_vs_crt"]["balanced_accuracy"] == (
            m["eos_published"]["balanced_accuracy"] - m["crt"]["balanced_accuracy"])
    agg = res["aggregate"]
    assert agg["n_seeds"] == 2 and agg["control"] == "crt" and list(agg["methods"]) == ["none", "crt", "eos_published"]
    d = agg["methods"]["eos_published"]["delta_vs_crt"]["macro_f1"]
    per_seed = [r["methods"]["eos_published"]["delta_vs_crt"]["macro_f1"] for r in res["runs"]]
    assert d["n"] == 2 and d["mean"] == pytest.approx(sum(per_seed) / 2, abs=1e-12)
    assert d["low"] <= d["mean"] <= d["high"]
    assert agg["methods"]["crt"]["delta_vs_crt"] is None


def test_run_one_seed_says_there_is_no_interval(tmp_path):
    out = _cli("run", *TINY, "--seeds", "3", "--methods", "ros", runs_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "seed 3: run " in out.stdout and "1 seed: no interval." in out.stdout
    assert "(control)" in out.stdout and "ROS" in out.stdout
    assert "Verdict: no comparison" in out.stdout and "EOS was not among the methods" in out.stdout


def test_run_json_verdict_is_the_stored_runs(tmp_path):
    """``run --json``'s verdict is eos_core.verdict's on the files the run saved, numbers and sentences."""
    from verdict_check import check_sentences

    from eos_core.verdict import verdict

    out = _cli("run", *TINY, "--methods", "smote,eos", "--no-map", "--json", runs_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    run = tmp_path / res["run_id"]
    stored = {n: json.loads((run / f"{n}.json").read_text()) for n in ("gap", "methods", "phase1")}
    expected = verdict(stored["gap"], [stored["methods"]], classes=stored["phase1"]["classes"])
    assert res["verdict"] == json.loads(json.dumps(expected))
    o = res["verdict"]["oversampling"]
    assert o["best_other"] == "smote" and o["seeds"] == 1 and o["call"] == "not yet a verdict"
    assert o["delta"] == stored["methods"]["eos"]["balanced_accuracy"] - stored["methods"]["smote"]["balanced_accuracy"]
    check_sentences(res["verdict"])
