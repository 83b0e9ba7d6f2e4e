"""Each preset's whole run on this machine: ``python -m eos_core run --preset NAME --json`` (one seed,
every default method and the map), timed from a fresh process, imports included.

Stores per preset: wall time, load average before and after, the model built, per-method balanced
accuracy and paired difference from cRT, the size-gap Spearman of the default gap measure and its
permutation p-value, and the smallest per-class *train* recall of phase 1 (the memorisation check
the recipe was chosen on; test results chose nothing). ``eos_core.presets.what_you_should_see``
writes the app's and the CLI's paragraph from this file.

Usage (the CIFAR-10-LT preset reads the JPEG stand-in folder unless CIFAR-10 is downloaded):
    EOS_DATA_DIR=../shared/data .venv/bin/python bench/bench_presets.py                 # every preset
    EOS_DATA_DIR=../shared/data .venv/bin/python bench/bench_presets.py --presets cifar10-lt
Writes bench/results/presets.json (presets measured earlier are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import RESULTS, ROOT, data_dir, loadavg, machine, write_result

# As the CLI does before torch loads: idle OpenMP threads sleep instead of spinning (the estimate
# below times steps in this process; spinning threads made them many times slower under load).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

GAP_MEASURE = "nn_ratio"  # the app's default gap measure (ui.labels.DEFAULT_GAP_MEASURE)
FOLDERS = {"cifar10-lt": "cifar10-jpeg"}  # the stand-in each folder preset reads when CIFAR-10 is absent


def machine_line() -> str:
    """A short description for the paragraph: CPU count and kind, or the GPU's name."""
    import torch

    if torch.cuda.is_available():
        return f"one {torch.cuda.get_device_name(0)} GPU"
    return f"a {os.cpu_count()}-core {platform.machine()} CPU"


def phase1_estimate(name: str, folder: str | None) -> dict[str, Any]:
    """What the app's form would have shown before Train: ``eos_core.phase1._estimate`` measured afresh."""
    from eos_core.data import class_counts, load_dataset
    from eos_core.phase1 import estimate_phase1
    from eos_core.presets import preset_config

    cfg = preset_config(name, data_dir=data_dir(), folder=folder)
    data = load_dataset(cfg.data.dataset, data_dir(), folder=cfg.data.folder)
    n = int(class_counts(data.train_counts(), cfg.data.ratio, cfg.data.profile,
                         max_per_class=cfg.data.max_per_class).sum())
    e = estimate_phase1(cfg.train, n_train=n, channels=data.channels, image_size=data.image_size,
                        num_classes=data.num_classes, n_test=len(data.y_test), use_cache=False)
    return {"seconds": e.seconds, "seconds_per_image": e.seconds_per_image, "batch_size": e.batch_size,
            "eval_seconds_per_image": e.eval_seconds_per_image, "eval_images_per_epoch": e.eval_images_per_epoch,
            "steps_per_epoch": e.steps_per_epoch, "epochs": e.epochs, "loadavg": loadavg()}


def run_preset(name: str) -> dict[str, Any]:
    """Run one preset through the CLI in a fresh process and tabulate what it printed."""
    from eos_core.presets import CIFAR10_MARKER

    cmd = [sys.executable, "-m", "eos_core", "run", "--preset", name, "--json"]
    label = f"python -m eos_core run --preset {name} --json"
    folder = None
    if name in FOLDERS and not (Path(data_dir()) / CIFAR10_MARKER).is_dir():
        folder = str(Path(data_dir()) / FOLDERS[name])
        cmd += ["--folder", folder]
        label += f" --folder $EOS_DATA_DIR/{FOLDERS[name]}"
    estimate = phase1_estimate(name, folder)
    load_before = loadavg()
    t0 = time.perf_counter()
    cpu0 = os.times()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True,
                         env=os.environ | {"EOS_DATA_DIR": data_dir()})
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    res = json.loads(out.stdout)
    gap = res["gap"]
    return {
        "command": label, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine_line(),
        "loadavg": load_before, "loadavg_after": loadavg(), "wall_s": wall,
        "cpu_s": (cpu1.children_user + cpu1.children_system) - (cpu0.children_user + cpu0.children_system),
        "model": res["model"].replace("small_cnn", "small CNN").replace("resnet32", "ResNet-32"),
        "dataset": res["dataset"], "n_train": sum(res["train_counts"]), "train_counts": res["train_counts"],
        "epochs": len(res["history"]), "phase1_s": res["timings"]["phase1_s"], "phase1_estimate": estimate,
        "min_train_recall": min(r for r in res["phase1"]["train_recall"] if r is not None),
        "methods": {m: {"balanced_accuracy": v["balanced_accuracy"],
                        "delta_vs_crt": (v.get("delta_vs_crt") or {}).get("balanced_accuracy")}
                    for m, v in res["methods"].items()},
        "gap_measure": GAP_MEASURE,
        "size_gap_spearman": gap["size_gap_spearman"][GAP_MEASURE],
        "size_gap_spearman_p": gap["size_gap_spearman_p"][GAP_MEASURE],
        "run_id": res["run_id"],
    }


def main() -> None:
    from eos_core.presets import PRESETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    args = parser.parse_args()
    path = RESULTS / "presets.json"
    payload = json.loads(path.read_text()) if path.exists() else {"presets": {}}
    for name in [n.strip() for n in args.presets.split(",") if n.strip()]:
        r = run_preset(name)
        payload["presets"][name] = r
        payload["machine"] = machine()
        write_result("presets", payload)  # after every preset: a later failure keeps the earlier ones
        print(f"{name}: {r['wall_s']:.0f} s (load {r['loadavg']}), min train recall {r['min_train_recall']:.3f}, "
              f"EOS {r['methods']['eos']['balanced_accuracy']:.3f}, cRT {r['methods']['crt']['balanced_accuracy']:.3f}",
              flush=True)


if __name__ == "__main__":
    main()
