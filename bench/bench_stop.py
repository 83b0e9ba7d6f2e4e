"""How long a stop signal takes to end a server with a training job (issue 15) → ``results/stop_cpu.json``.

Per trial: a fresh ``streamlit run app.py`` on 127.0.0.1 with an empty run store, a headless
Chromium starts a long digits job (1000 epochs) from *Setup & train* and waits for its first epoch;
then SIGTERM or SIGINT goes to the server process. Recorded: seconds from the signal to the
process exit, the exit code, the run's status and message in the store, and the 1-minute load
average (the server shares the CPUs with everything else on the machine).

    .venv/bin/python bench/bench_stop.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, write_result

sys.path.insert(0, str(ROOT))

from eos_core.store._store import RunStore  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS, StreamlitServer, find_chromium  # noqa: E402


def trial(browser, sig: signal.Signals, work: Path) -> dict:
    from playwright.sync_api import expect

    runs = work / f"runs-{sig.name}-{time.monotonic_ns()}"
    runs.mkdir()
    server = StreamlitServer(runs, work / "streamlit.log")
    try:
        server.wait_healthy()
        context = browser.new_context()
        page = context.new_page()
        page.goto(server.url + "/")
        epochs = page.locator(".st-key-setup_epochs input")
        epochs.fill("1000")
        epochs.press("Enter")
        expect(epochs).to_have_value("1000", timeout=60_000)
        train = page.locator('.st-key-train_button button[data-testid^="stBaseButton"]').first
        expect(train).to_be_enabled(timeout=90_000)
        train.click()
        expect(page.get_by_text("Phase 1 · epoch").first).to_be_visible(timeout=120_000)
        load = os.getloadavg()[0]
        sent = time.monotonic()
        os.kill(server.proc.pid, sig)
        try:
            server.proc.wait(60)
            took = time.monotonic() - sent
        except subprocess.TimeoutExpired:
            took = None
        context.close()
        run = RunStore(runs).list_runs()[0]
        return {"signal": sig.name, "exit_s": None if took is None else round(took, 3),
                "returncode": server.proc.returncode, "status": run.status, "message": run.message,
                "loadavg_1min": round(load, 2)}
    finally:
        server.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="eos-bench-stop-"))
    trials = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
            for _ in range(args.repeats):
                for sig in (signal.SIGTERM, signal.SIGINT):
                    trials.append(trial(browser, sig, work))
                    print(trials[-1], flush=True)
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    times = [t["exit_s"] for t in trials if t["exit_s"] is not None]
    summary = {"median_exit_s": statistics.median(times) if times else None, "max_exit_s": max(times, default=None),
               "all_cancelled": all(t["status"] == "cancelled" for t in trials)}
    path = write_result("stop_cpu", {"machine": machine(), "trials": trials, "summary": summary})
    print(summary, "→", path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
