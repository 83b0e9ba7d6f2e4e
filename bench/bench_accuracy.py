"""Accuracy of every oversampler on Fashion-MNIST rho=100 (exp), small CNN, several seeds.

For each seed: phase 1 once, then phases 2-3 for none, ROS, SMOTE, Borderline-SMOTE, ADASYN and
EOS on the same embeddings. Reports mean ± std of balanced accuracy, g-mean and macro-F1, and the
per-class spread ratio with its Spearman correlation with class size.

Usage: .venv/bin/python bench/bench_accuracy.py [--epochs 30] [--seeds 0,1,2]
Writes bench/results/accuracy_cpu.json and prints markdown tables.
"""

from __future__ import annotations

import argparse

import numpy as np

from common import data_dir, machine, write_result

METRICS = ("balanced_accuracy", "g_mean", "macro_f1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--dataset", default="fashion-mnist")
    args = ap.parse_args()

    from eos_core.config import METHODS, DataConfig, HeadConfig, RunConfig, TrainConfig
    from eos_core.pipeline import run_pipeline

    seeds = [int(s) for s in args.seeds.split(",")]
    per_seed = []
    for seed in seeds:
        cfg = RunConfig(data=DataConfig(dataset=args.dataset, ratio=100, profile="exp", seed=seed),
                        train=TrainConfig(epochs=args.epochs, seed=seed, gap_snapshots=False),
                        head=HeadConfig(seed=seed), methods=list(METHODS))
        res = run_pipeline(cfg, data_dir=data_dir())
        per_seed.append({
            "seed": seed,
            "train_counts": res.phase1.train_counts,
            "phase1_s": res.phase1.timings["phase1_s"],
            "methods": {n: {k: m.metrics[k] for k in METRICS + ("per_class_recall",)} | {"seconds": m.seconds}
                        for n, m in res.methods.items()},
            "gap": res.gap,
        })
        print(f"seed {seed}: " + ", ".join(f"{n} {m.metrics['balanced_accuracy']:.4f}" for n, m in res.methods.items()),
              flush=True)
    summary = {}
    for name in METHODS:
        summary[name] = {k: {"mean": float(np.mean([s["methods"][name][k] for s in per_seed])),
                             "std": float(np.std([s["methods"][name][k] for s in per_seed], ddof=1)) if len(seeds) > 1 else 0.0}
                         for k in METRICS}
    spread = np.array([[g["spread_ratio"] for g in s["gap"]["per_class"]] for s in per_seed], dtype=float)
    rho = [s["gap"]["size_gap_spearman"]["spread_ratio"] for s in per_seed]
    out = {"machine": machine(), "dataset": args.dataset, "ratio": 100, "epochs": args.epochs, "seeds": seeds,
           "summary": summary, "spread_ratio_mean": np.nanmean(spread, 0).tolist(),
           "spread_ratio_spearman": rho, "per_seed": per_seed}
    write_result("accuracy_cpu", out)
    print("\n| method | balanced accuracy | g-mean | macro-F1 |\n|---|---|---|---|")
    for name, s in summary.items():
        print(f"| {name} | " + " | ".join(f"{s[k]['mean']:.4f} ± {s[k]['std']:.4f}" for k in METRICS) + " |")
    print("\n| class | train n | spread ratio (mean over seeds) |\n|---|---|---|")
    for c, (n, v) in enumerate(zip(per_seed[0]["train_counts"], out["spread_ratio_mean"])):
        print(f"| {c} | {n} | {v:.3f} |")
    print(f"\nSpearman(train size, spread ratio) per seed: {', '.join(f'{r:.3f}' for r in rho)}")


if __name__ == "__main__":
    main()
