"""Phase-1 speed: the default digits CLI run (cold process) and Fashion-MNIST rho=100 epochs.

Usage: .venv/bin/python bench/bench_train.py [--epochs 20] [--repeats 3]
Writes bench/results/train_cpu.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, data_dir, machine, write_result


def cold_digits_cli(repeats: int) -> dict:
    times = []
    with tempfile.TemporaryDirectory() as runs:
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "eos_core", "train", "--dataset", "digits", "--ratio", "50",
                                  "--profile", "exp", "--epochs", "30", "--seed", "0", "--json", "--runs-dir", runs],
                                 cwd=ROOT, capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - t0)
            res = json.loads(out.stdout)
    return {"wall_s": times, "median_s": statistics.median(times),
            "balanced_accuracy": res["phase1"]["balanced_accuracy"],
            "phase1_s": res["timings"]["phase1_s"]}


def fashion_epochs(data_dir: str, epochs: int) -> dict:
    from eos_core.config import DataConfig, RunConfig, TrainConfig
    from eos_core.pipeline import run_phase1

    cfg = RunConfig(data=DataConfig(dataset="fashion-mnist", ratio=100, profile="exp", seed=0),
                    train=TrainConfig(epochs=epochs, seed=0, gap_snapshots=False))
    t0 = time.perf_counter()
    p1 = run_phase1(cfg, data_dir=data_dir)
    total = time.perf_counter() - t0
    secs = [h["seconds"] for h in p1.history]
    return {"epochs": epochs, "train_images": sum(p1.train_counts), "sec_per_epoch_median": statistics.median(secs),
            "phase1_s": p1.timings["phase1_s"], "total_s": total, "balanced_accuracy": p1.metrics["balanced_accuracy"],
            "g_mean": p1.metrics["g_mean"], "macro_f1": p1.metrics["macro_f1"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data-dir", default=data_dir())
    args = ap.parse_args()
    out = {"machine": machine(), "digits_cli_cold": cold_digits_cli(args.repeats),
           "fashion_rho100": fashion_epochs(args.data_dir, args.epochs)}
    write_result("train_cpu", out)
    d, f = out["digits_cli_cold"], out["fashion_rho100"]
    print("| measure | value | goal |\n|---|---|---|")
    print(f"| digits `train` default, cold process (median of {args.repeats}) | {d['median_s']:.1f} s | ≤ 20 s |")
    print(f"| digits balanced accuracy (ρ=50, 30 epochs) | {d['balanced_accuracy']:.3f} | |")
    print(f"| Fashion-MNIST ρ=100 small CNN, s/epoch ({f['train_images']} images) "
          f"| {f['sec_per_epoch_median']:.2f} s | |")
    print(f"| Fashion-MNIST ρ=100 balanced accuracy after {f['epochs']} epochs | {f['balanced_accuracy']:.3f} | |")


if __name__ == "__main__":
    main()
