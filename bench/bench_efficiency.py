"""The paper's efficiency claim on Fashion-MNIST rho=100 (exp), small CNN.

Phases 2+3 (EOS on the phase-1 embeddings + head re-training) against re-training the CNN end to
end on a pixel-space randomly over-sampled, balanced training set for the same number of epochs as
phase 1. Both start from the same imbalanced training set; both report test balanced accuracy.

Usage: .venv/bin/python bench/bench_efficiency.py [--epochs 20] [--seed 0]
Writes bench/results/efficiency_cpu.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import data_dir, machine, write_result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch
    from imblearn.over_sampling import RandomOverSampler

    from eos_core.config import DataConfig, RunConfig, TrainConfig
    from eos_core.data import load_dataset
    from eos_core.evaluation import classification_report_dict
    from eos_core.phase1 import SPECS, build_model, choose_device, train_model
    from eos_core.pipeline import run_method, run_phase1

    cfg = RunConfig(data=DataConfig(dataset="fashion-mnist", ratio=100, profile="exp", seed=args.seed),
                    train=TrainConfig(epochs=args.epochs, seed=args.seed, gap_snapshots=False))
    p1 = run_phase1(cfg, data_dir=data_dir())
    t0 = time.perf_counter()
    eos = run_method(p1, cfg, "eos")
    eval_s = time.perf_counter() - t0
    eos_s = eos.seconds  # phases 2+3 proper: EOS resampling + head re-training (no evaluation)

    # Baseline: balance the *images* by random over-sampling, re-train the whole CNN.
    data = load_dataset("fashion-mnist", data_dir())
    idx = p1.train_idx
    ros_idx, _ = RandomOverSampler(random_state=args.seed).fit_resample(idx[:, None], data.y_train[idx])
    ros_idx = ros_idx[:, 0]
    x_bal, y_bal = data.x_train[ros_idx], data.y_train[ros_idx]
    info = p1.model_info
    torch.manual_seed(args.seed)
    model = build_model(cfg.train.model, in_channels=1, num_classes=10, image_size=28, mean=info["mean"],
                        std=info["std"])
    t0 = time.perf_counter()
    hist = train_model(model, x_bal, y_bal, data.x_test, data.y_test, cfg.train, num_classes=10,
                       device=choose_device("auto"), augment=SPECS["fashion-mnist"])
    ros_cnn_s = time.perf_counter() - t0
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(data.x_test[s:s + 2048])).argmax(1)
                          for s in range(0, len(data.x_test), 2048)]).numpy()
    ros_metrics = classification_report_dict(data.y_test, pred, 10)
    out = {
        "machine": machine(), "epochs": args.epochs, "seed": args.seed,
        "imbalanced_train_images": int(len(idx)), "balanced_train_images": int(len(ros_idx)),
        "phase1_s": p1.timings["phase1_s"], "phase1_balanced_accuracy": p1.metrics["balanced_accuracy"],
        "eos_phase23_s": eos_s, "eos_with_evaluation_s": eval_s,
        "eos_resample_s": eos.metrics["resample_s"], "eos_head_s": eos.metrics["head_s"],
        "eos_balanced_accuracy": eos.metrics["balanced_accuracy"],
        "ros_cnn_retrain_s": ros_cnn_s, "ros_cnn_balanced_accuracy": ros_metrics["balanced_accuracy"],
        "ros_cnn_sec_per_epoch": float(np.median([h.seconds for h in hist])),
        "time_ratio": ros_cnn_s / eos_s,
    }
    write_result("efficiency_cpu", out)
    print("| measure | EOS phases 2+3 | CNN re-trained on pixel-ROS | ratio |\n|---|---|---|---|")
    print(f"| time | {eos_s:.2f} s | {ros_cnn_s:.1f} s | {out['time_ratio']:.0f}x |")
    print(f"| test balanced accuracy | {out['eos_balanced_accuracy']:.4f} | {out['ros_cnn_balanced_accuracy']:.4f} | |")
    print(f"(phase 1: {out['phase1_s']:.1f} s, bal. acc {out['phase1_balanced_accuracy']:.4f}; "
          f"{out['imbalanced_train_images']} -> {out['balanced_train_images']} images, {args.epochs} epochs)")


if __name__ == "__main__":
    main()
