"""The default run as a new user meets it: a fresh server, every default, one click on Train.

Timed, per repeat, in a fresh ``streamlit run app.py`` process and a fresh browser context:

- ``results_s``: from the click on **Train** to the *Per-class results* table on Setup & train
  (phases 1-3 saved; the run's 2-D map may still be computing, the page says so);
- ``finished_s``: from the same click to the job's "finished" line (map included).

Usage::

    .venv/bin/python bench/bench_default_run.py --repeats 2 --out bench/results/default_run.json

The JSON records the load average before and after each repeat: wall-clock times on a shared 2-core
machine move with it. Needs Debian's ``chromium`` and the ``playwright`` package.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The browser tests' harness: the same server class and Chromium.
from tests.e2e.harness import VIEWPORT, StreamlitServer, launch_browser  # noqa: E402

TRAIN = '.st-key-train_button button[data-testid^="stBaseButton"]'


def one_run(browser, chromium_log: Path) -> dict:
    """One fresh server and browser context: click Train with every default, time the results."""
    from playwright.sync_api import expect

    with tempfile.TemporaryDirectory() as runs:
        server = StreamlitServer(chromium_log, runs_dir=Path(runs))
        try:
            server.wait_healthy()
            load_before = os.getloadavg()[0]
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.goto(server.url + "/")
            train = page.locator(TRAIN).first
            expect(train).to_be_enabled(timeout=120_000)  # the form has timed its phase-1 estimate
            t0 = time.perf_counter()
            train.click()
            page.get_by_text("Per-class results").first.wait_for(timeout=300_000)
            results_s = time.perf_counter() - t0
            page.get_by_text("finished in").first.wait_for(timeout=300_000)
            finished_s = time.perf_counter() - t0
            context.close()
            return {"results_s": round(results_s, 2), "finished_s": round(finished_s, 2),
                    "load_before": load_before, "load_after": os.getloadavg()[0]}
        finally:
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=None, help="write the JSON here (default: print only)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = launch_browser(pw)
        runs = [one_run(browser, Path(tmp) / f"server{i}.log") for i in range(args.repeats)]
        browser.close()
    out = {"date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpus": os.cpu_count(),
           "machine": platform.machine(), "goal_results_s": 10.0, "runs": runs}
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
