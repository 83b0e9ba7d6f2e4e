"""``python -m eos_core study``: the JSON object, and one line for a bad argument."""

from __future__ import annotations

import json
import subprocess
import sys

from eos_core.cli._output import METHOD_KEYS


def _cli(*args, runs_dir, timeout=300):
    return subprocess.run([sys.executable, "-m", "eos_core", *args, "--runs-dir", str(runs_dir)],
                          capture_output=True, text=True, timeout=timeout)

TINY = ["--dataset", "digits", "--max-per-class", "30", "--epochs", "1", "--head-epochs", "1", "--methods", "eos"]


def test_study_json_has_every_run_and_the_summary(tmp_path):
    out = _cli("study", *TINY, "--ratios", "1,10", "--seeds", "0,1", "--json", runs_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert list(res) == ["study_id", "status", "ratios", "seeds", "runs", "summary"]
    assert (res["status"], res["ratios"], res["seeds"]) == ("finished", [1.0, 10.0], [0, 1])
    assert [(r["ratio"], r["seed"]) for r in res["runs"]] == [(1.0, 0), (1.0, 1), (10.0, 0), (10.0, 1)]
    for r in res["runs"]:  # each run's object is run --json's, plus its ratio
        assert {"run_id", "train_counts", "phase1", "methods", "gap", "seed"} <= set(r)
        assert set(r["methods"]["eos"]) == {*METHOD_KEYS, "n_synthetic", "seconds"}
    listed = json.loads(_cli("list", "--json", runs_dir=tmp_path).stdout)
    assert sorted(r["run_id"] for r in listed) == sorted(r["run_id"] for r in res["runs"])
    ten = res["summary"]["ratios"][1]
    assert ten["ratio"] == 10.0 and ten["run_ids"] == [r["run_id"] for r in res["runs"][2:]]
    deltas = [r["methods"]["eos"]["delta_vs_crt"]["balanced_accuracy"] for r in res["runs"][2:]]
    assert abs(ten["methods"]["eos"]["delta_vs_crt"]["balanced_accuracy"]["mean"] - sum(deltas) / 2) < 1e-12
    assert ten["train_count"] == res["runs"][2]["train_counts"]


def test_study_needs_ratios_and_refuses_bad_ones_in_one_line(tmp_path):
    for args, needle in ((["study"], "--ratios"), (["study", "--ratios", "1,1"], "distinct"),
                         (["study", "--ratios", "1,2000"], "between 1 and 1000")):
        out = _cli(*args, runs_dir=tmp_path)
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        assert out.returncode == 2 and len(lines) == 1 and needle in lines[0], out.stderr
