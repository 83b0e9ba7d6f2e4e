"""A train/test image zip the way a new user makes it: ``zip -r`` of the folder, then ingest + load.

Data: the CIFAR-10 JPEG stand-in, ``$EOS_DATA_DIR/cifar10-jpeg`` (train/ and test/), zipped with
``zip -qr`` (60,000 images plus 23 folder entries, one wrapping folder) unless ``--zip`` names an
archive. A fresh process unpacks it with :func:`eos_core.uploads.ingest_zip` (what the app's
uploader calls) into a temporary uploads folder, then loads it with an empty decoded-array cache
(what the app's class-size chart does next). Records the classes and per-split counts found, the
wall and CPU seconds of each step and the load average.

Usage: .venv/bin/python bench/bench_zip_ingest.py [--zip PATH]
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
from eos_core.uploads import ingest_zip
folder, classes = ingest_zip(Path(sys.argv[1]), sys.argv[2])
t1, c1 = time.perf_counter(), time.process_time()
from eos_core.folder_data import load_image_folder, scan_image_folder
split = scan_image_folder(folder).split
d = load_image_folder(folder)
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"classes": classes, "split": split, "train_counts": d.train_counts().tolist(),
                  "test_counts": d.test_counts().tolist(), "shape": list(d.x_train.shape),
                  "ingest_wall_s": t1 - t0, "ingest_cpu_s": c1 - c0, "load_wall_s": t2 - t1, "load_cpu_s": c2 - c1}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zip", default=None, help="an archive; default: zip -qr of $EOS_DATA_DIR/cifar10-jpeg")
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
    print(json.dumps(row, indent=1))
    write_result("zip_ingest", {"machine": machine(), "zip": args.zip or "zip -qr cifar10-jpeg", "row": row})


if __name__ == "__main__":
    main()
