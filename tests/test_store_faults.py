"""Crashes and signals against real CLI runs: ``kill -9`` at several moments, Ctrl-C, SIGTERM.

Each child runs ``python -m eos_core run`` on a tiny digits config with a hook that blocks the
process inside the fsync of a chosen artifact (so the kill lands mid-write, deterministically);
afterwards ``list``, ``repair`` and ``PRAGMA integrity_check`` must show a healthy store.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from eos_core.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
HEARTBEAT_S = 0.05
LEASE_S = 6 * HEARTBEAT_S  # a lease lasts eos_core.store.STALE_BEATS heartbeats
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "EOS_TORCH_THREADS": "1",
       "EOS_HEARTBEAT_S": str(HEARTBEAT_S)}
TINY = ["run", "--dataset", "digits", "--ratio", "10", "--max-per-class", "40", "--epochs", "2",
        "--methods", "none,smote", "--head-epochs", "1", "--no-gap-snapshots", "--json"]

# Runs the CLI with os.fsync blocking (forever) when the temp file of artifact $EOS_BLOCK_AT is
# being written; prints BLOCKED then, so the parent knows the moment has come.
_HOOKED_CLI = textwrap.dedent("""
    import os, signal, sys, time
    # A shell that starts the test run in the background leaves SIGINT ignored in its children;
    # restore Python's own handler so the Ctrl-C case tests the CLI, not the shell.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    target = ".tmp-" + os.environ["EOS_BLOCK_AT"]
    real_fsync = os.fsync
    def fsync(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(target):
            print("BLOCKED", flush=True)
            while True:
                time.sleep(60)
        real_fsync(fd)
    os.fsync = fsync
    from eos_core.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _good_run(root: Path) -> str:
    store = RunStore(root)
    rid = store.create_run({"data": {"dataset": "digits"}})
    store.save_arrays(rid, "embeddings", x=np.arange(4, dtype=np.float32))
    store.finish_run(rid, metrics={"phase1": {"balanced_accuracy": 0.5}})
    return rid


def _start_blocked(root: Path, block_at: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOOKED_CLI, *TINY, "--runs-dir", str(root)], cwd=ROOT,
                            env={**ENV, "EOS_BLOCK_AT": block_at}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    line = proc.stdout.readline()
    if line.strip() != "BLOCKED":
        proc.kill()
        pytest.fail(f"the child never reached {block_at}: {proc.communicate()[1][-2000:]}")
    return proc


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eos_core", *args, "--runs-dir", str(root)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=120)


def _listed(root: Path) -> dict[str, dict]:
    out = _cli(root, "list", "--json")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    return {r["run_id"]: r for r in json.loads(out.stdout)}


def _other_run(root: Path, keep: str) -> str:
    (victim,) = [rid for rid in _listed(root) if rid != keep]
    return victim


def _integrity(root: Path) -> str:
    con = sqlite3.connect(root / "index.sqlite")
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def _tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-*")]


def _lease(root: Path, run_id: str) -> float:
    """The run's lease (epoch seconds) in the index: renewed by its process's heartbeat."""
    con = sqlite3.connect(root / "index.sqlite")
    try:
        return con.execute("SELECT lease FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    finally:
        con.close()


def _wait_until(check, what: str, timeout: float = 30.0) -> None:
    """Poll ``check()`` until it is true (the store's state is files and timestamps: nothing to wait on)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["history", "embeddings", "synthetic_smote"])
def test_kill_9_then_list_repair_integrity(tmp_path, moment):
    keep = _good_run(tmp_path)
    proc = _start_blocked(tmp_path, moment)
    victim = _other_run(tmp_path, keep)
    # A live process keeps its run "running" by its heartbeat: wait until the heartbeat has pushed the
    # lease seen now more than four leases further (that lease ran out long before), then list.
    later = _lease(tmp_path, victim) + 4 * LEASE_S
    _wait_until(lambda: _lease(tmp_path, victim) > later, "the heartbeat did not renew the run's lease")
    assert _listed(tmp_path)[victim]["status"] == "running"
    assert any(p.name.startswith(f".tmp-{moment}") for p in _tmp_files(tmp_path))  # killed mid-write
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    _wait_until(lambda: _listed(tmp_path)[victim]["status"] == "interrupted", "the dead run's lease did not run out")
    rep = _cli(tmp_path, "repair")
    assert rep.returncode == 0 and "Traceback" not in rep.stderr, rep.stderr
    assert "marked dead running runs interrupted: 1" in rep.stdout
    assert _tmp_files(tmp_path) == []  # swept by the first store opened once the run was dead
    assert _integrity(tmp_path) == "ok"
    store = RunStore(tmp_path)
    assert store.get_run(victim).status == "interrupted"
    assert json.loads((tmp_path / victim / "record.json").read_text())["status"] == "interrupted"
    assert store.get_run(keep).status == "finished"
    assert store.load_arrays(keep, "embeddings")["x"].tolist() == [0, 1, 2, 3]
    # a second repair finds nothing left to do
    assert _cli(tmp_path, "repair").stdout.strip() == "nothing to repair"


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 130)])
def test_ctrl_c_and_sigterm_record_cancelled(tmp_path, sig, code):
    proc = _start_blocked(tmp_path, "history")
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=180)  # generous: CI machines may be loaded
    assert proc.returncode == code
    lines = [line for line in err.splitlines() if line.strip() and "phase 1" not in line]
    assert len(lines) == 1 and "cancel" in lines[0] and "Traceback" not in err, err
    (run,) = _listed(tmp_path).values()
    assert run["status"] == "cancelled"
    assert _tmp_files(tmp_path) == []  # the interrupted write removed its temp file


def test_deleted_index_is_rebuilt_with_status_and_metrics(tmp_path):
    store = RunStore(tmp_path)
    done = _good_run(tmp_path)
    failed = store.create_run({"data": {"dataset": "mnist"}}, kind="pipeline")
    store.fail_run(failed, "Boom.")
    cancelled = store.create_run({"data": {"dataset": "svhn"}})
    store.cancel_run(cancelled)
    before = {r.id: r for r in store.list_runs()}
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp_path / "index.sqlite") + suffix).unlink(missing_ok=True)
    after = {r.id: r for r in RunStore(tmp_path).list_runs()}
    assert set(after) == set(before) == {done, failed, cancelled}
    for rid, rec in before.items():
        got = after[rid]
        assert (got.status, got.message, got.config, got.metrics, got.kind) == \
            (rec.status, rec.message, rec.config, rec.metrics, rec.kind)
        assert got.created == pytest.approx(rec.created)


def test_folder_without_record_json_is_recovered_from_its_artifacts(tmp_path):
    store = RunStore(tmp_path)
    rid = store.create_run({"data": {"dataset": "digits"}})
    store.save_json(rid, "phase1", {"metrics": {"balanced_accuracy": 0.9, "g_mean": 0.8, "macro_f1": 0.7,
                                                "confusion": [[1]]}, "timings": {"phase1_s": 2.0}})
    store.finish_run(rid)
    (tmp_path / rid / "record.json").unlink()  # a run folder written before record.json existed
    store.index.db(lambda con: con.execute("DELETE FROM runs"))
    rec = RunStore(tmp_path).get_run(rid)
    assert rec.status == "finished" and rec.message == "Recovered from the run folder."
    assert rec.metrics == {"phase1": {"balanced_accuracy": 0.9, "g_mean": 0.8, "macro_f1": 0.7}}
    assert rec.timings == {"phase1_s": 2.0}


def test_damaged_rows_are_listed_skipped_and_repaired(tmp_path):
    store = RunStore(tmp_path)
    keep, bad = _good_run(tmp_path), _good_run(tmp_path)
    store.index.db(lambda con: con.execute("UPDATE runs SET config = '{broken' WHERE id = ?", (bad,)))
    assert [r.id for r in store.list_runs()] == [keep]
    assert [rid for rid, _ in store.damaged] == [bad]
    out = _cli(tmp_path, "list")
    assert out.returncode == 0 and keep in out.stdout
    assert [line.split()[:2] for line in out.stdout.splitlines() if bad in line] == [[bad, "damaged"]]
    assert out.stderr == (f"warning: Run {bad} cannot be opened: its index row is damaged (not JSON: Expecting "
                          "property name enclosed in double quotes: line 1 column 2 (char 1)); `python -m eos_core "
                          "repair` restores it from the run folder, and other runs are not affected.\n")
    rep = _cli(tmp_path, "repair")
    assert f"restored damaged index rows from their folders: 1 ({bad})" in rep.stdout
    assert {r.id for r in RunStore(tmp_path).list_runs()} == {keep, bad}


def test_live_run_whose_row_vanished_is_restored_on_its_next_update(tmp_path):
    store = RunStore(tmp_path)
    rid = store.create_run({"data": {"dataset": "digits"}})
    store.index.db(lambda con: con.execute("DELETE FROM runs"))  # e.g. the index was deleted and rebuilt empty
    store.finish_run(rid, metrics={"m": 1})
    rec = store.get_run(rid)
    assert rec.status == "finished" and rec.metrics == {"m": 1}


def test_half_created_folder_and_old_temp_files_are_swept(tmp_path):
    store = RunStore(tmp_path)
    keep = _good_run(tmp_path)
    half = tmp_path / "20240101-000000-abcdef"  # mkdir happened, config.json never did
    half.mkdir()
    stale_tmp = tmp_path / keep / ".tmp-embeddings.npz.x1.npz"
    stale_tmp.write_bytes(b"partial")
    live_tmp = tmp_path / keep / ".tmp-gap.json.x2.json"  # a writer (this test) holds it
    held = open(live_tmp, "wb")
    fcntl.flock(held.fileno(), fcntl.LOCK_EX)
    old = time.time() - 7200
    for path in (half, stale_tmp, live_tmp):
        os.utime(path, (old, old))
    rep = _cli(tmp_path, "repair")
    assert "removed half-created run folders: 1 (20240101-000000-abcdef)" in rep.stdout
    assert "removed orphan temporary files: 1" in rep.stdout
    assert not half.exists() and not stale_tmp.exists() and live_tmp.exists()
    held.close()
    assert RunStore(tmp_path).get_run(keep).status == "finished"
    assert store.load_arrays(keep, "embeddings")["x"].tolist() == [0, 1, 2, 3]
