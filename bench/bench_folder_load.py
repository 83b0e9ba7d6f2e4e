"""Loading an image folder: cold (decode every file) and warm (the cached uint8 arrays).

Data: the CIFAR-10 JPEG stand-in, ``$EOS_DATA_DIR/cifar10-jpeg`` (60,000 JPEGs, train/ and test/).
Each repeat runs in a fresh process with a fresh, empty cache folder for the cold load, then the
warm load reads what the cold one wrote. Wall and CPU seconds are both recorded: on a shared
machine the wall time depends on the load average (recorded too).

Usage: .venv/bin/python bench/bench_folder_load.py [--folder PATH] [--repeats 3]
Writes bench/results/folder_load.json.
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
t0, c0 = time.perf_counter(), time.process_time()
from eos_core.data import load_image_folder
d = load_image_folder(sys.argv[1])
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "n_train": int(len(d.y_train)), "n_test": int(len(d.y_test)), "shape": list(d.x_train.shape)}))
"""


def _load_once(folder: str, cache: str) -> dict:
    env = dict(os.environ, EOS_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", _CHILD, folder], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout) | {"loadavg": loadavg()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folder", default=str(Path(data_dir()) / "cifar10-jpeg"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="eos-cache-") as cache:
            cold = _load_once(args.folder, cache)
            warm = _load_once(args.folder, cache)
            size = sum(f.stat().st_size for f in Path(cache).rglob("*.npy"))
        rows.append({"repeat": r, "cold": cold, "warm": warm, "cache_bytes": size})
        print(f"repeat {r}: cold {cold['wall_s']:.2f} s wall / {cold['cpu_s']:.2f} s CPU, "
              f"warm {warm['wall_s']:.2f} s wall / {warm['cpu_s']:.2f} s CPU, load {warm['loadavg']}", flush=True)
    write_result("folder_load", {"machine": machine(), "folder": args.folder, "rows": rows})


if __name__ == "__main__":
    main()
