"""The app's job system, browser ownership and warm-up (``ui.jobs``, ``ui.state``, ``ui.warmup``),
without a page: jobs are awaited on their events, never polled."""

from __future__ import annotations

import binascii
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
import sys, time
import numpy as np
if sys.argv[1] == "warm":
    from ui.warmup import start_warm_up
    start_warm_up().join()
from eos_core.projection import fit_projection
x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
t0 = time.perf_counter()
fit_projection(x, method="umap", seed=0, n_epochs=20)
print(time.perf_counter() - t0)
"""


@pytest.mark.slow
def test_the_umap_warm_up_makes_the_first_map_of_a_fresh_process_faster() -> None:
    """Two fresh processes draw their first map: the one that ran ui.warmup's warm-up first (as
    the server does a few seconds after its first page) is faster, because the warm-up really
    imports umap and compiles (or loads) its numba code."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), EOS_NO_WARMUP="0")

    def first_map(mode: str) -> float:
        out = subprocess.run([sys.executable, "-c", _FIRST_MAP, mode], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "UMAP warm-up failed" not in out.stderr, out.stderr[-2000:]
        return float(out.stdout.strip().splitlines()[-1])

    cold, warm = first_map("cold"), first_map("warm")  # one after the other: no CPU contention
    assert warm < cold, (warm, cold)  # ~0.1 s against ~11 s on the project's 2-core box
