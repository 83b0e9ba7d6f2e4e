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
    assert res["model"] == "small_cnn"  # "auto" resolved: the model actually built
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


# --------------------------------------------------------------------------- seeds, methods, Ctrl-C (issue 15)

SEEDS_REFUSED = {
    "seed past the range": (["--seeds", "0,4294967296"],
                            "python -m eos_core run: error: argument --seeds: seed 4294967296 is out of range; "
                            "seeds must be integers in [0, 4294967295]"),
    "negative seed": (["--seeds", "2,-1"],
                      "python -m eos_core run: error: argument --seeds: seed -1 is out of range; "
                      "seeds must be integers in [0, 4294967295]"),
    "empty entry": (["--seeds", "0,,1"],
                    "python -m eos_core run: error: argument --seeds: seeds must be comma-separated integers with "
                    "no empty entry, got '0,,1'"),
    "trailing comma": (["--seeds", "0,"],
                       "python -m eos_core run: error: argument --seeds: seeds must be comma-separated integers with "
                       "no empty entry, got '0,'"),
    "repeated seed": (["--seeds", "1,2,1"],
                      "python -m eos_core run: error: argument --seeds: seeds must be distinct, got '1,2,1' "
                      "(seed 1 twice)"),
    "--seed beside --seeds": (["--seeds", "3", "--seed", "5"],
                              "error: --seed 5 cannot be combined with --seeds, which lists every seed to run "
                              "(--seeds 3 runs seed 3 only); put the seeds in --seeds."),
    "--seed 0 beside --seeds": (["--seed", "0", "--seeds", "0,1"],
                                "error: --seed 0 cannot be combined with --seeds, which lists every seed to run "
                                "(--seeds 0 runs seed 0 only); put the seeds in --seeds."),
}


@pytest.mark.parametrize("name", list(SEEDS_REFUSED))
def test_bad_seeds_are_refused_before_any_work(tmp_path, name):
    args, line = SEEDS_REFUSED[name]
    out = _cli("run", *TINY, *args, runs_dir=tmp_path / "runs", timeout=120)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [line] and out.stdout == ""
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing saved, not even the store


def test_seed_alone_and_seeds_alone_are_both_fine():
    from eos_core.cli._main import build_parser, check_args, config_from_args

    args = build_parser().parse_args(["run", "--seed", "5"])
    check_args(args)
    assert config_from_args(args).seed == 5
    args = build_parser().parse_args(["run", "--seeds", "3"])
    check_args(args)
    assert args.seeds == [3] and config_from_args(args, 3).seed == 3
    assert config_from_args(build_parser().parse_args(["run"])).seed == 0


def test_torchrun_workers_train_one_phase1_per_seed(monkeypatch):
    """Under torchrun, ranks > 0 follow rank 0 through every seed of --seeds, in order."""
    from types import SimpleNamespace

    from eos_core import pipeline
    from eos_core.cli import _main as cli
    from eos_core.phase1 import _distributed as distributed

    seen = []
    monkeypatch.setattr(distributed, "init_from_env", lambda device: SimpleNamespace(is_main=False))
    monkeypatch.setattr(pipeline, "run_phase1", lambda cfg, data_dir=None: seen.append(cfg.seed))
    assert cli._distributed_worker(cli.build_parser().parse_args(["run", "--seeds", "4,2,7"])) is True
    assert seen == [4, 2, 7]
    seen.clear()
    assert cli._distributed_worker(cli.build_parser().parse_args(["train", "--seed", "3"])) is True
    assert seen == [3]


def test_duplicate_methods_are_dropped_with_a_note(tmp_path):
    out = _cli("run", *TINY, "--methods", "eos,ros,eos", "--no-map", "--json", runs_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    notes = [ln for ln in out.stderr.splitlines() if ln.startswith("note:")]
    assert notes == ["note: --methods lists eos more than once; the duplicate was dropped."]
    res = json.loads(out.stdout)
    assert list(res["methods"]) == ["crt", "eos", "ros"]  # the control first, then the request order
    (run,) = json.loads(_cli("list", "--json", runs_dir=tmp_path).stdout)
    assert run["config"]["methods"] == ["eos", "ros"]  # the saved config has no duplicate either


def _fake_pipeline(monkeypatch, steps):
    """Replace run_pipeline: step i announces run ``r{i}`` (unless None) then returns or raises."""
    from types import SimpleNamespace

    from eos_core import pipeline
    from eos_core.events import RunCreated

    calls = iter(steps)

    def fake(cfg, *, store=None, data_dir=None, progress=None, **kwargs):
        run_id, outcome = next(calls)
        if run_id is not None:
            progress(RunCreated(run_id))
        if isinstance(outcome, BaseException):
            raise outcome
        return SimpleNamespace(phase1=SimpleNamespace(run_id=run_id))

    monkeypatch.setattr(pipeline, "run_pipeline", fake)


CANCELLED = {
    "Ctrl-C in a run": ([("r0", KeyboardInterrupt())], [],
                        "error: cancelled (Ctrl-C); run r0 is recorded as cancelled."),
    "Ctrl-C before the run was saved": ([(None, KeyboardInterrupt())], [],
                                        "error: cancelled (Ctrl-C) before a run was saved."),
    "SIGTERM in a run": ([("r0", KeyboardInterrupt("cancelled: the process received SIGTERM"))], [],
                         "error: cancelled: the process received SIGTERM; run r0 is recorded as cancelled."),
    "Ctrl-C in the second seed": ([("r0", None), ("r1", KeyboardInterrupt())], ["--seeds", "0,1"],
                                  "error: cancelled (Ctrl-C); run r1 is recorded as cancelled, after seed 0 (run r0) "
                                  "finished."),
}


@pytest.mark.parametrize("name", list(CANCELLED))
def test_a_stopped_run_says_what_the_store_holds(tmp_path, monkeypatch, capsys, name):
    from eos_core.cli import main

    steps, extra, line = CANCELLED[name]
    _fake_pipeline(monkeypatch, steps)
    assert main(["run", *TINY, "--json", *extra, "--runs-dir", str(tmp_path)]) == 130
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [line] and captured.out == ""


def test_an_error_in_a_later_seed_names_the_finished_runs(tmp_path, monkeypatch, capsys):
    from eos_core.cli import main
    from eos_core.errors import TrainingDiverged

    _fake_pipeline(monkeypatch, [("r0", None), ("r1", TrainingDiverged("The loss became NaN at epoch 2."))])
    assert main(["run", *TINY, "--json", "--seeds", "0,1", "--runs-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines() == ["note: finished before the error: seed 0 (run r0).",
                                                    "error: The loss became NaN at epoch 2."]


def test_ctrl_c_outside_a_run_has_a_reason(tmp_path, monkeypatch, capsys):
    from eos_core.cli import _main as cli

    def interrupted(args):
        raise KeyboardInterrupt()

    monkeypatch.setattr(cli, "_dispatch", interrupted)
    assert cli.main(["list", "--runs-dir", str(tmp_path)]) == 130
    assert capsys.readouterr().err == "error: cancelled (Ctrl-C).\n"


def test_run_json_verdict_is_the_stored_runs(tmp_path):
    """``run --json``'s verdict is eos_core.evaluation._verdict's on the files the run saved, numbers and sentences."""
    from verdict_check import check_sentences

    from eos_core.evaluation import verdict

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


def test_dataset_choices_are_the_engines_one_list():
    """``--dataset`` accepts exactly the ids ``eos_core.names.DATASETS`` lists, each with a label and a name."""
    from eos_core import names
    from eos_core.cli._main import build_parser
    from eos_core.data import DATASETS

    assert DATASETS is names.DATASETS
    assert list(names.DATASET_LABELS) == list(names.DATASET_NAMES) == list(names.DATASETS)
    for cmd in ("train", "run"):
        action = next(a for a in build_parser()._subparsers._group_actions[0].choices[cmd]._actions
                      if "--dataset" in a.option_strings)
        assert tuple(action.choices) == names.DATASETS
