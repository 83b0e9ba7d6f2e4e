"""A train/test image zip the way a new user makes it: ``zip -r`` of the folder, then ingest + load.

Data: the CIFAR-10 JPEG stand-in, ``$EOS_DATA_DIR/cifar10-jpeg`` (train/ and test/), zipped with
``zip -qr`` (60,000 images plus 23 folder entries, one wrapping folder) unless ``--zip`` names an
archive. A fresh process unpacks it with :func:`eos_core.data.ingest_zip` (what the app's
uploader calls) into a temporary uploads folder, then loads it with an empty decoded-array cache
(what the app's class-size chart does next). Records the classes and per-split counts found, the
wall and CPU seconds of each step and the load average. ``--app`` also uploads the archive to
page 1 through Streamlit's AppTest (a fresh process, empty run store and cache) and times the
script run until the page shows the counts as given.

Usage: .venv/bin/python bench/bench_zip_ingest.py [--zip PATH] [--app]
Writes bench/results/zip_ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, data_dir, loadavg, machine, write_result

_CHILD = """
import json, sys, time
from pathlib import Path
t0, c0 = time.perf_counter(), time.process_time()
from eos_core.data import ingest_zip
folder, classes = ingest_zip(Path(sys.argv[1]), sys.argv[2])
t1, c1 = time.perf_counter(), time.process_time()
from eos_core.data import load_image_folder, scan_image_folder
split = scan_image_folder(folder).split
d = load_image_folder(folder)
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"classes": classes, "split": split, "train_counts": d.train_counts().tolist(),
                  "test_counts": d.test_counts().tolist(), "shape": list(d.x_train.shape),
                  "ingest_wall_s": t1 - t0, "ingest_cpu_s": c1 - c0, "load_wall_s": t2 - t1, "load_cpu_s": c2 - c1}))
"""

_APP_CHILD = """
import json, sys, time
from pathlib import Path
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[2], default_timeout=900)
at.run()
at.selectbox(key="setup_dataset").set_value("folder").run()
data = Path(sys.argv[1]).read_bytes()
t0, c0 = time.perf_counter(), time.process_time()
at.get("file_uploader")[0].set_value((Path(sys.argv[1]).name, data, "application/zip")).run()
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
df = at.table[0].value
print(json.dumps({"errors": [e.value for e in at.error], "captions": [c.value for c in at.caption][:3],
                  "classes": list(df.index), "train": df["train (as given)"].tolist(), "test": df["test"].tolist(),
                  "upload_to_counts_wall_s": wall, "upload_to_counts_cpu_s": cpu}))
"""


def _app_upload(archive: Path, tmp: str) -> dict:
    env = dict(os.environ, EOS_CACHE_DIR=str(Path(tmp) / "app-cache"), EOS_RUNS_DIR=str(Path(tmp) / "app-runs"),
               PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", _APP_CHILD, str(archive), str(ROOT / "app.py")], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zip", default=None, help="an archive; default: zip -qr of $EOS_DATA_DIR/cifar10-jpeg")
    ap.add_argument("--app", action="store_true", help="also upload it to page 1 (AppTest) and time it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="eos-zip-") as tmp:
        archive = Path(args.zip) if args.zip else Path(tmp) / "cifar10-jpeg.zip"
        if not args.zip:
            subprocess.run(["zip", "-qr", str(archive), "cifar10-jpeg"], cwd=data_dir(), check=True)
        env = dict(os.environ, EOS_CACHE_DIR=str(Path(tmp) / "cache"), PYTHONPATH=str(ROOT))
        load_before = loadavg()
        out = subprocess.run([sys.executable, "-c", _CHILD, str(archive), str(Path(tmp) / "uploads")], env=env,
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout) | {"zip_bytes": archive.stat().st_size, "loadavg_before": load_before,
                                        "loadavg_after": loadavg()}
        if args.app:
            row["app"] = _app_upload(archive, tmp) | {"loadavg_after": loadavg()}
    print(json.dumps(row, indent=1))
    write_result("zip_ingest", {"machine": machine(), "zip": args.zip or "zip -qr cifar10-jpeg", "row": row})


if __name__ == "__main__":
    main()
