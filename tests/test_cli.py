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
    assert len([l for l in out.stdout.splitlines() if l.strip().startswith(tuple("0123456789"))]) >= 10


@pytest.mark.parametrize("args, needle", [
    (["train", "--ratio", "0"], "between 1 and 1000"),
    (["train", "--ratio", "5000"], "between 1 and 1000"),
    (["train", "--dataset", "imagenet"], "invalid choice"),
    (["train", "--epochs", "zero"], "invalid int value"),
    (["run", "--methods", "eos,magic"], "unknown method"),
    (["train", "--dataset", "fashion-mnist", "--data-dir", "{tmp}/no-data"], "could not be downloaded"),
])
def test_bad_arguments_exit_nonzero_with_one_line(tmp_path, args, needle):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = _cli(*args, runs_dir=tmp_path / "runs", timeout=120)
    assert out.returncode == 2
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, out.stderr
    assert needle in lines[0]
