"""The app's job system, browser ownership and warm-up (``ui.jobs``, ``ui.state``, ``ui.warmup``),
without a page: jobs are awaited on their events, never polled."""

from __future__ import annotations

import binascii
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from eos_core.errors import Cancelled, EOSError
from ui import state
from ui.jobs import JobManager

ROOT = Path(__file__).resolve().parents[1]


def test_jobs_end_with_their_status_and_wake_waiters() -> None:
    mgr = JobManager(max_concurrent=1)
    gate = threading.Event()

    def blocked(job):
        job.push({"phase": "run", "run_id": "r1"})
        gate.wait(30)
        if job.cancel.is_set():
            raise Cancelled("stop")
        return {"answer": 42}

    first = mgr.submit("train", "first", blocked, owner="browser:a")
    queued = mgr.submit("train", "second", lambda job: {"never": True})
    assert first.wait_for_phase("run", 30) == {"phase": "run", "run_id": "r1", "t": first.last()["t"]}
    assert first.run_id == "r1" and first.status == "running" and queued.status == "queued"
    mgr.cancel(queued)  # still waiting for the single heavy slot: it never starts
    assert queued.done.is_set() and queued.status == "cancelled" and "never" not in queued.result
    gate.set()
    assert first.wait(30) and first.status == "finished" and first.result == {"answer": 42}
    assert first.wait_for_phase("map", 1) is None  # an ended job wakes waiters for events that never come

    failing = mgr.submit("train", "bad", lambda job: (_ for _ in ()).throw(EOSError("One clear sentence.")))
    assert failing.wait(30) and failing.status == "failed" and failing.error == "One clear sentence."
    crash = mgr.submit("map", "crash", lambda job: 1 / 0, heavy=False)
    assert crash.wait(30) and crash.status == "failed" and "ZeroDivisionError" in crash.error and crash.detail

    gate.clear()
    running = mgr.submit("train", "cancel me", blocked)
    assert running.wait_for_phase("run", 30) is not None
    mgr.cancel(running)
    gate.set()
    assert running.wait(30) and running.status == "cancelled"
    assert mgr.get(running.id) is running and mgr.find("nothing") is None


def _cookie(token: bytes, mask: bytes) -> str:
    masked = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(token))
    return f"2|{binascii.b2a_hex(mask).decode()}|{binascii.b2a_hex(masked).decode()}|1700000000"


def test_the_browser_key_follows_the_xsrf_token_not_its_mask() -> None:
    token = os.urandom(16)
    a, b = _cookie(token, os.urandom(4)), _cookie(token, os.urandom(4))
    assert a != b  # the cookie text changes on every page load …
    assert state.xsrf_token(a) == state.xsrf_token(b) == token  # … the browser's token does not
    assert state.xsrf_token(f'"{a}"') == token
    for bad in (None, "", "1|00|00|1", "2|zz|00|1", "2|00", "2||00|1"):
        assert state.xsrf_token(bad) is None, bad


_FIRST_MAP = """
import json, sys
import numpy as np
if sys.argv[1] == "warm":
    from ui.warmup import start_warm_up
    start_warm_up().join()
import umap  # noqa: F401 — loads the modules whose numba functions are counted
from numba.core.dispatcher import Dispatcher
from eos_core.maps import fit_projection

def compiled():
    # Machine code each numba function of umap-learn (and pynndescent) holds: one per type signature,
    # compiled in this process or loaded from numba's disk cache.
    return {f"{name}.{attr}": len(obj.overloads) for name, mod in list(sys.modules.items())
            if mod is not None and name.split(".")[0] in ("umap", "pynndescent")
            for attr, obj in list(vars(mod).items()) if isinstance(obj, Dispatcher)}

before = compiled()
x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
fit_projection(x, method="umap", seed=0, n_epochs=20)
after = compiled()
print(json.dumps({k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}))
"""


@pytest.mark.slow
def test_the_umap_warm_up_leaves_the_first_map_of_a_fresh_process_nothing_to_compile() -> None:
    """Two fresh processes draw their first map: the one that ran ui.warmup's warm-up first (as the
    server does a few seconds after its first page) needs no new numba code for it, because the
    warm-up really imported umap and compiled (or loaded) every function the map uses; without the
    warm-up, the same map has to compile some (which is what makes a cold first map slow)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), EOS_NO_WARMUP="0")

    def first_map_compiles(mode: str) -> dict[str, int]:
        """numba function -> signatures it gained during the process's first map."""
        out = subprocess.run([sys.executable, "-c", _FIRST_MAP, mode], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "UMAP warm-up failed" not in out.stderr, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    cold, warm = first_map_compiles("cold"), first_map_compiles("warm")
    assert cold, "without the warm-up the first map compiled nothing: the check below would prove nothing"
    assert warm == {}, f"after the warm-up, the first map still compiled {warm}"


# ------------------------------------------------------------------ who sees and cancels a job

@pytest.mark.parametrize("address, local", [
    ("localhost", True), ("LOCALHOST", True), ("127.0.0.1", True), ("127.0.1.1", True), ("::1", True),
    ("[::1]", True), (None, False), ("", False), ("0.0.0.0", False), ("::", False), ("192.168.1.20", False),
    ("example.org", False), ("unix:///tmp/eos.sock", False),
])
def test_only_a_loopback_address_is_a_localhost_only_server(address, local) -> None:
    assert state.is_loopback(address) is local


def _fake_training(mgr: JobManager | None = None, *, owner: str = "browser:a", label: str = "digits · ρ=20"):
    """A training job that runs until it is cancelled (no engine: the page only reads the job)."""
    from eos_core.config import RunConfig
    from ui.jobs import registry

    def until_cancelled(job):
        job.push({"phase": "data"})  # eos_core.events.DataLoading: the page says "loading the data"
        job.cancel.wait(120)
        return None  # cancelled: the manager records it

    return (mgr or registry()).submit("train", label, until_cancelled, owner=owner, config=RunConfig().to_dict())


def _sidebar_text(at) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def test_on_a_localhost_server_every_browser_sees_and_cancels_the_running_jobs(monkeypatch) -> None:
    from apptest_helpers import app, ok

    import ui.state

    monkeypatch.setattr(ui.state, "local_server", lambda: True)
    monkeypatch.setattr(ui.state, "browser_key", lambda: "browser:reopened")  # not the starting browser
    running, queued = _fake_training(), _fake_training(label="digits · seeds 1, 2")
    try:
        assert running.wait_for_phase("data", 30) is not None and queued.status == "queued"
        at = app()  # a new browser, no link
        ok(at)
        assert at.query_params["job"] == running.id  # re-attached to the newest running job
        assert at.button(key="cancel_button") and at.button(key="train_button").disabled
        assert "Progress and Cancel are on *Setup & train*." in _sidebar_text(at)
        assert [c.value for c in at.caption if c.value.startswith("Also")] == [
            "Also queued on this server: digits · seeds 1, 2."]
        at.button(key=f"cancel_{queued.id}").click().run()
        assert queued.done.is_set() and queued.status == "cancelled"
        at.button(key="cancel_button").click().run()
        assert running.wait(30) and running.status == "cancelled"
    finally:
        for j in (running, queued):
            j.cancel.set()
            j.wait(30)


def test_on_a_network_server_only_the_starting_browser_cancels(monkeypatch) -> None:
    from apptest_helpers import app, ok

    import ui.state

    monkeypatch.setattr(ui.state, "local_server", lambda: False)
    job = _fake_training(owner="browser:a")
    try:
        assert job.wait_for_phase("data", 30) is not None
        monkeypatch.setattr(ui.state, "browser_key", lambda: "browser:b")
        stranger = app()
        ok(stranger)
        assert "job" not in stranger.query_params and not stranger.button(key="train_button").disabled
        assert "cancel_button" not in [b.key for b in stranger.button] and not _sidebar_text(stranger)
        follower = app(job=job.id)  # a shared link: follows read-only, and the sidebar says so
        ok(follower)
        assert "cancel_button" not in [b.key for b in follower.button]
        assert _sidebar_text(follower).endswith(
            "Progress is on *Setup & train*; only the browser that started it can cancel it.")
        assert "Cancel" not in _sidebar_text(follower).replace("cancel it", "")
        monkeypatch.setattr(ui.state, "browser_key", lambda: "browser:a")
        owner = app()  # the starting browser, in a new tab: re-attached, with control
        ok(owner)
        assert owner.query_params["job"] == job.id and owner.button(key="cancel_button")
        owner.button(key="cancel_button").click().run()
        assert job.wait(30) and job.status == "cancelled"
    finally:
        job.cancel.set()
        job.wait(30)


# ------------------------------------------------------------------ stopping the server

def test_shutdown_cancels_running_and_queued_jobs_and_names_the_stuck_ones() -> None:
    mgr = JobManager(max_concurrent=1)
    running, queued = _fake_training(mgr), _fake_training(mgr)
    assert mgr.shutdown("Cancelled: the server was stopped.", 30) == []
    for j in (running, queued):
        assert j.status == "cancelled" and j.stop_reason == "Cancelled: the server was stopped."
    assert queued.started is None  # it never ran

    release = threading.Event()

    def ignores_cancel(job):
        job.push({"phase": "run", "run_id": "r"})
        release.wait(60)
        return {"done": True}

    other = JobManager(max_concurrent=1)
    stuck = other.submit("train", "stuck", ignores_cancel)
    assert stuck.wait_for_phase("run", 30) is not None
    assert other.shutdown("stop", 0.2) == [stuck] and stuck.cancel.is_set() and stuck.active
    release.set()
    assert stuck.wait(30) and stuck.status == "finished"


_EXITING = """
import sys, threading
from ui.jobs import JobManager
from ui.shutdown import stop_jobs_at_exit
mgr = JobManager(max_concurrent=2)
stop_jobs_at_exit(mgr, wait_s=float(sys.argv[1]))
def polite(job):
    job.push({"phase": "run", "run_id": "r"})
    job.cancel.wait(600)
def stubborn(job):
    job.push({"phase": "run", "run_id": "r"})
    threading.Event().wait(600)  # a step that cannot be interrupted
jobs = [mgr.submit("train", "polite", polite)]
if sys.argv[2] == "1":
    jobs.append(mgr.submit("train", "stubborn", stubborn))
for j in jobs:
    j.wait_for_phase("run", 60)
def report():
    threading.main_thread().join()
    jobs[0].wait(30)
    print("statuses", [(j.label, j.status, j.stop_reason) for j in jobs], flush=True)
threading.Thread(target=report, daemon=False).start()
print("main thread ends", flush=True)
"""


@pytest.mark.parametrize("stubborn", [False, True])
def test_the_process_exits_when_its_main_thread_ends_and_its_jobs_are_cancelled(stubborn) -> None:
    """What ``streamlit run`` does after SIGTERM: its main thread returns. The hook cancels every job
    (the polite one records it); a job that ignores the cancel does not keep the process alive."""
    out = subprocess.run([sys.executable, "-c", _EXITING, "2", "1" if stubborn else "0"], cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "statuses [('polite', 'cancelled', 'Cancelled: the server was stopped.')" in out.stdout, out.stdout
    if stubborn:  # still running when the process ended
        assert "('stubborn', 'running', 'Cancelled: the server was stopped.')]" in out.stdout, out.stdout
        assert "EOS Explorer: 1 job(s) still running 2 s after the cancel; exiting anyway." in out.stderr
    else:
        assert "statuses [('polite', 'cancelled', 'Cancelled: the server was stopped.')]" in out.stdout
        assert "still running" not in out.stderr


# ------------------------------------------------------------------ which job made a run

def test_runs_record_the_job_that_made_them(tmp_path) -> None:
    from eos_core.store import RunStore, job_of_run, run_of_job, tag_run

    store = RunStore(tmp_path)
    first, second, cli = (store.create_run({}, kind="pipeline") for _ in range(3))
    tag_run(store, first, "00000000000000aa")
    tag_run(store, second, "00000000000000aa")  # a seeds job tags each of its runs
    assert job_of_run(store, first) == "00000000000000aa" and job_of_run(store, cli) is None
    assert run_of_job(store, "00000000000000aa", hint=first) == first
    assert run_of_job(store, "00000000000000aa") in (first, second)
    assert run_of_job(store, "00000000000000aa", hint=cli) in (first, second)
    assert run_of_job(store, "00000000000000bb") is None and run_of_job(store, "../etc") is None
    (tmp_path / cli / "job.json").write_text('["not", "an object"]')
    assert job_of_run(store, cli) is None
