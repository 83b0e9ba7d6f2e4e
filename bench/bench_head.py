"""Phase-3 and model speed on CPU.

- head re-training: 50,000 x 64 float32 embeddings, 10 classes, 10 epochs, the default HeadConfig
  (median of ``--repeats``; goal <= 5 s);
- SmallCNN forward + backward + SGD step, seconds per 10k images at batch 128, for 28x28x1 and 8x8x1
  (goal <= 3 s at 28x28);
- ResNet-32 forward + backward + SGD step, seconds per 1k images at 32x32x3, batch 128.

Usage: .venv/bin/python bench/bench_head.py [--repeats 3] [--threads N]
Writes bench/results/head_cpu.json and prints a markdown table. The machine's load average is
recorded before and after: on a 2-core machine, other processes slow multi-threaded torch down a lot.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eos_core.config import HeadConfig  # noqa: E402
from eos_core.evaluation._head import predict_head, train_head  # noqa: E402
from eos_core.phase1._models import build_model  # noqa: E402


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # not available on every platform
        return None


def bench_head(repeats: int) -> dict:
    """Default HeadConfig on 50k x 64 Gaussian-blob embeddings (10 classes)."""
    rng = np.random.default_rng(0)
    n, dim, classes = 50_000, 64, 10
    y = rng.integers(0, classes, n).astype(np.int64)
    centers = rng.normal(size=(classes, dim)) * 2.0
    emb = np.maximum(centers[y] + rng.normal(size=(n, dim)), 0).astype(np.float32)  # ReLU-like, as real embeddings
    cfg = HeadConfig()
    train_head(emb[:1000], y[:1000], HeadConfig(epochs=1), num_classes=classes)  # warm-up: lazy torch init
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        head = train_head(emb, y, cfg, num_classes=classes)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    pred, _ = predict_head(head, emb)
    predict_s = time.perf_counter() - t0
    return {"n": n, "dim": dim, "classes": classes, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
            "times_s": [round(t, 3) for t in times], "median_s": statistics.median(times),
            "predict_s": predict_s, "train_accuracy": float((pred == y).mean())}


def bench_model(name: str, channels: int, size: int, images: int, repeats: int, batch: int = 128) -> dict:
    """Seconds per ``images`` images for forward + backward + SGD step at ``batch``."""
    torch.manual_seed(0)
    model = build_model(name, in_channels=channels, num_classes=10, image_size=size).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=2e-4)
    x = torch.rand(batch, channels, size, size)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(3):  # warm-up (oneDNN primitive creation)
        step()
    steps = max(1, round(images / batch))
    per = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        per.append((time.perf_counter() - t0) / (steps * batch) * images)
    return {"model": type(model).__name__, "input": [channels, size, size], "batch": batch, "per_images": images,
            "times_s": [round(t, 3) for t in per], "median_s": statistics.median(per), "min_s": min(per),
            "params": sum(p.numel() for p in model.parameters())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    load_before = loadavg()
    out = {
        "machine": machine(),
        "head_50k_x_64": bench_head(args.repeats),
        "small_cnn_28": bench_model("small_cnn", 1, 28, 10_000, args.repeats),
        "small_cnn_8": bench_model("small_cnn", 1, 8, 10_000, args.repeats),
        "resnet32_32": bench_model("resnet32", 3, 32, 1_000, args.repeats),
    }
    out["machine"]["loadavg_before"] = load_before
    out["machine"]["loadavg_after"] = loadavg()
    dest = ROOT / "bench" / "results" / "head_cpu.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1))

    h, s28, s8, r = out["head_50k_x_64"], out["small_cnn_28"], out["small_cnn_8"], out["resnet32_32"]
    m = out["machine"]
    print(f"{m['platform']} · {m['cpus']} CPUs · torch {m['torch']} ({m['threads']} threads) · {m['date']} · "
          f"load {load_before} -> {m['loadavg_after']}\n")
    print("| measure | median | min | goal |\n|---|---|---|---|")
    print(f"| head re-training, 50k×64, 10 classes, 10 epochs (median of {args.repeats}) | {h['median_s']:.2f} s | "
          f"{min(h['times_s']):.2f} s | ≤ 5 s |")
    print(f"| SmallCNN fwd+bwd, 28×28×1, per 10k images (batch 128) | {s28['median_s']:.2f} s | "
          f"{s28['min_s']:.2f} s | ≤ 3 s |")
    print(f"| SmallCNN fwd+bwd, 8×8×1, per 10k images (batch 128) | {s8['median_s']:.2f} s | {s8['min_s']:.2f} s | |")
    print(f"| ResNet-32 fwd+bwd, 32×32×3, per 1k images (batch 128) | {r['median_s']:.2f} s | {r['min_s']:.2f} s | |")


if __name__ == "__main__":
    main()
