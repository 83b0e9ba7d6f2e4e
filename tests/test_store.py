import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from eos_core.errors import DamagedRun
from eos_core.store import RunStore, UnknownRun


def test_create_finish_and_artifacts_round_trip(tmp_path):
    store = RunStore(tmp_path)
    rid = store.create_run({"data": {"dataset": "digits"}})
    assert store.get_run(rid).status == "running"
    store.save_arrays(rid, "embeddings", a=np.arange(6, dtype=np.float32).reshape(2, 3))
    store.save_json(rid, "history", [{"epoch": 1}])
    store.save_state_dict(rid, "model", {"w": torch.ones(2, 2)})
    store.finish_run(rid, metrics={"phase1": {"balanced_accuracy": 0.5}}, timings={"phase1_s": 1.0})
    rec = store.get_run(rid)
    assert rec.status == "finished" and rec.metrics["phase1"]["balanced_accuracy"] == 0.5
    assert store.load_arrays(rid, "embeddings")["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert store.load_json(rid, "history") == [{"epoch": 1}]
    assert torch.equal(store.load_state_dict(rid, "model")["w"], torch.ones(2, 2))
    assert [r.id for r in store.list_runs()] == [rid]


def test_run_ids_are_generated_and_user_text_never_becomes_a_path(tmp_path):
    store = RunStore(tmp_path)
    for bad in ["../../etc", "x/../../y", "20240101-000000-zzzzzz", "", "a" * 30]:
        with pytest.raises(UnknownRun):
            store.run_dir(bad)
    rid = store.create_run({})
    with pytest.raises(ValueError):
        store.save_json(rid, "../evil", {})


def test_checkpoints_refuse_pickled_code(tmp_path):
    store = RunStore(tmp_path)
    rid = store.create_run({})

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"w": Evil()}, store.run_dir(rid) / "model.pt")
    with pytest.raises(DamagedRun, match=rid):
        store.load_state_dict(rid, "model")


def _await_status(root, run_id, status, timeout=20.0):
    """The store's runs once ``run_id`` shows ``status`` (a dead run's lease has to run out first).

    Fails when it does not within ``timeout`` seconds (the store is polled: the lease is a timestamp).
    """
    deadline = time.monotonic() + timeout
    while True:
        runs = {r.id: r for r in RunStore(root).list_runs()}
        if runs[run_id].status == status:
            return runs
        if time.monotonic() > deadline:
            pytest.fail(f"run {run_id} is {runs[run_id].status!r}, not {status!r}, after {timeout:g} s")
        time.sleep(0.05)


_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from eos_core.store import RunStore
    store = RunStore(sys.argv[1])
    rid = store.create_run({"who": "victim"})
    print(rid, flush=True)
    big = np.random.default_rng(0).random((2000, 512)).astype(np.float32)
    while True:  # keep rewriting an artifact until killed; one line per round, for the parent to count
        store.save_arrays(rid, "embeddings", x=big)
        store.save_json(rid, "history", [{"epoch": 1}])
        print("saved", flush=True)
""")
ROUNDS_BEFORE_KILL = 20  # the kill lands while the artifact is being rewritten, after many complete writes


def test_kill_9_mid_run_marks_interrupted_and_damages_nothing(tmp_path):
    store = RunStore(tmp_path)
    keep = store.create_run({"who": "survivor"})
    store.save_arrays(keep, "embeddings", x=np.ones((3, 2), np.float32))
    store.finish_run(keep, metrics={"m": 1})
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "EOS_HEARTBEAT_S": "0.05"}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
    victim = proc.stdout.readline().strip()
    for _ in range(ROUNDS_BEFORE_KILL):  # let it rewrite the artifact many times
        assert proc.stdout.readline().strip() == "saved", "the writer died before it was killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    runs = _await_status(tmp_path, victim, "interrupted")
    assert runs[victim].status == "interrupted"
    assert runs[keep].status == "finished" and runs[keep].metrics == {"m": 1}
    assert store.load_arrays(keep, "embeddings")["x"].tolist() == [[1, 1]] * 3
    # the victim's last complete artifact is still readable: never a half-written file
    assert store.load_arrays(victim, "embeddings")["x"].shape == (2000, 512)
    con = sqlite3.connect(tmp_path / "index.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
