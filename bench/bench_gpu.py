"""GPU figures for issue 11 (one H200): phase-1 speed and accuracy, what each speed step adds, EOS.

Sections (``--only`` runs a subset; each merges its figures into the JSON as soon as it ends, so a
run cut short still leaves the finished sections):

``eos``
    EOS (k = 10, sampling "auto") on 100k x 512 Gaussian long-tail embeddings (rho = 100, the CPU
    benchmark's generator, bench/bench_eos.py) with 10 and with 1,000 classes, its neighbours from
    ``make_nn_estimator(device="cuda")``; median of 3 after one warm-up, and the bare search alone.
``throughput``
    ResNet-32 training images/s on the CIFAR-10-LT bundle (batch 128) with each step switched on in
    turn: fp32 NCHW -> + bf16 autocast -> + channels-last -> + fused SGD -> + torch.compile ->
    + compile with CUDA graphs ("reduce-overhead"). Each: 3 epochs, the fastest of epochs 2-3 timed
    (epoch 1 holds cuDNN autotuning / compilation, reported separately), evaluation on 500 images.
``full``
    ResNet-32, CIFAR-10-LT rho = 100 (12,406 JPEG-stand-in images), the paper's recipe, 200 epochs,
    cross-entropy, standard augmentation, evaluated every epoch on the 10,000 test images: wall time
    and test balanced accuracy of the final model (float32 embeddings). The fastest configuration
    that ran in ``throughput`` is used (``--compile`` overrides).

Usage (bench/gpu_check.sh runs it on the GPU machine)::

    python3 bench/bench_gpu.py --bundle .whl/cifar10_lt_r100.npz --out bench/results/gpu_h200.json
    .venv/bin/python bench/bench_gpu.py --quick --out /tmp/gpu_quick.json   # tiny, CPU: code paths only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import machine  # noqa: E402
from prepare_gpu_bundle import load_bundle  # noqa: E402

from eos_core.config import TrainConfig  # noqa: E402
from eos_core.phase1._augment import SPECS  # noqa: E402
from eos_core.phase1._device import Accel  # noqa: E402
from eos_core.phase1._models import build_model  # noqa: E402

SEP = 0.5  # bench_eos.py's class-centre spread at d = 64 (scaled by (64 / d) ** 0.25)


def log(msg: str) -> None:
    print(f"[bench_gpu {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_embeddings(n: int, d: int, classes: int, rho: float = 100.0, seed: int = 0):
    """bench_eos.py's long-tail Gaussian clusters, for any class count: (n, d) float32, (n,) int64."""
    rng = np.random.default_rng(seed)
    w = rho ** (-np.arange(classes) / (classes - 1))
    counts = np.maximum(1, np.floor(n * w / w.sum()).astype(int))
    counts[0] += n - counts.sum()
    y = np.repeat(np.arange(classes), counts)
    centers = rng.normal(scale=SEP * (64 / d) ** 0.25, size=(classes, d))
    X = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    perm = rng.permutation(n)
    return X[perm], y[perm]


# ------------------------------------------------------------------------------------------ eos
def bench_eos(device: torch.device, sizes: list[tuple[int, int, int]]) -> dict:
    from eos_core.neighbors import make_nn_estimator, nn_backend
    from eos_core.oversampling import EOS

    where = "cuda" if device.type == "cuda" else "cpu"
    out = {"backend": nn_backend(where), "k": 10, "rows": []}
    for n, d, classes in sizes:
        X, y = make_embeddings(n, d, classes)
        times, search = [], []
        eos = None
        for rep in range(4):  # first = warm-up
            eos = EOS(k_neighbors=10, nn_estimator=make_nn_estimator(device=where), random_state=0)
            _sync(device)
            t0 = time.perf_counter()
            X_res, _ = eos.fit_resample(X, y)
            _sync(device)
            if rep:
                times.append(time.perf_counter() - t0)
            # The search EOS needs, alone: fit + (k+1) neighbours of the classes being filled.
            rows = np.flatnonzero(y != np.bincount(y).argmax())
            t0 = time.perf_counter()
            make_nn_estimator(11, device=where).fit(X).kneighbors(X[rows], return_distance=False)
            _sync(device)
            if rep:
                search.append(time.perf_counter() - t0)
        row = {"n": n, "d": d, "classes": classes, "eos_s": statistics.median(times), "eos_runs_s": times,
               "search_s": statistics.median(search), "n_synthetic": int(len(X_res) - n),
               "fallback_classes": len(eos.fallback_classes_)}
        log(f"EOS {n}x{d}, {classes} classes: {row['eos_s']:.3f} s (search {row['search_s']:.3f} s), "
            f"{row['n_synthetic']} synthetic")
        out["rows"].append(row)
        del X, y, X_res
    return out


# ----------------------------------------------------------------------------------- training
def _model(x: np.ndarray, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("resnet32", in_channels=3, num_classes=10, image_size=32,
                       mean=x.mean(axis=(0, 2, 3)).tolist(), std=x.std(axis=(0, 2, 3)).tolist())


STEPS: list[tuple[str, Accel]] = [
    ("fp32", Accel(bf16=False, channels_last=False, fused_optimizer=False)),
    ("+bf16", Accel(bf16=True, channels_last=False, fused_optimizer=False)),
    ("+channels_last", Accel(bf16=True, channels_last=True, fused_optimizer=False)),
    ("+fused_sgd", Accel(bf16=True, channels_last=True, fused_optimizer=True)),
    ("+compile", Accel(bf16=True, channels_last=True, fused_optimizer=True, compile="default")),
    ("+compile_cudagraphs", Accel(bf16=True, channels_last=True, fused_optimizer=True, compile="reduce-overhead")),
]


def bench_throughput(data: dict, device: torch.device, epochs: int, steps: list[str], budget_s: float) -> dict:
    from eos_core.phase1 import train_model

    x, y = data["x_train"], data["y_train"]
    xe, ye = data["x_test"][::20], data["y_test"][::20]
    out = {"n_train": int(len(x)), "batch_size": 128, "epochs_each": epochs, "steps": []}
    t_start = time.perf_counter()
    for name, accel in STEPS:
        if name not in steps:
            continue
        if time.perf_counter() - t_start > budget_s:
            out["steps"].append({"step": name, "skipped": f"time budget of {budget_s:.0f} s spent"})
            continue
        torch._dynamo.reset()
        try:
            hist = train_model(_model(x), x, y, xe, ye, TrainConfig(model="resnet32", epochs=epochs, seed=0,
                               gap_snapshots=False, decay_at=(0.99, 0.995)),
                               num_classes=10, device=device, augment=SPECS["cifar10"], accel=accel)
        except Exception as err:  # a step that fails is recorded, the others still run
            out["steps"].append({"step": name, "error": f"{type(err).__name__}: {str(err)[:300]}"})
            log(f"{name}: FAILED {type(err).__name__}: {str(err)[:200]}")
            continue
        secs = [h.seconds for h in hist]
        best = min(secs[1:]) if len(secs) > 1 else secs[0]
        row = {"step": name, "images_per_s": len(x) / best, "epoch_s": secs, "first_epoch_s": secs[0],
               "loss": [h.loss for h in hist]}
        log(f"{name}: {row['images_per_s']:.0f} images/s (epochs {', '.join(f'{s:.2f}' for s in secs)} s)")
        out["steps"].append(row)
    return out


def _best_compile(throughput: dict | None) -> str | None:
    """The compile mode of the fastest step that ran, or None (eager) if an eager step was fastest."""
    rows = [r for r in (throughput or {}).get("steps", []) if "images_per_s" in r]
    if not rows:
        return None
    best = max(rows, key=lambda r: r["images_per_s"])["step"]
    return {"+compile": "default", "+compile_cudagraphs": "reduce-overhead"}.get(best)


def bench_full(data: dict, device: torch.device, epochs: int, compile_mode: str | None) -> dict:
    from sklearn.metrics import balanced_accuracy_score

    from eos_core.evaluation import classification_report_dict
    from eos_core.phase1 import accel_for, compute_embeddings, train_model

    x, y, xe, ye = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    base = accel_for(device)
    accel = Accel(bf16=base.bf16, channels_last=base.channels_last, fused_optimizer=base.fused_optimizer,
                  compile=compile_mode)
    torch._dynamo.reset()
    model = _model(x)
    log(f"full run: {epochs} epochs, {len(x)} images, {accel}")
    _sync(device)
    t0 = time.perf_counter()
    done: list = []
    try:
        hist = train_model(model, x, y, xe, ye, TrainConfig(model="resnet32", loss="ce", epochs=epochs, seed=0,
                           gap_snapshots=False), num_classes=10, device=device, augment=SPECS["cifar10"],
                           accel=accel, progress=lambda ev: done.append(ev.stats))
    except KeyboardInterrupt:  # gpu_check.sh's timeout sends SIGINT: keep what the epochs so far say
        el = time.perf_counter() - t0
        log(f"full run interrupted after {len(done)} epochs, {el:.1f} s")
        return {"interrupted_after_epochs": len(done), "elapsed_s": el, "epochs": epochs, "accel": accel.__dict__,
                "projected_train_s": el / max(1, len(done)) * epochs,
                "history": [{"epoch": h.epoch, "loss": h.loss, "test_bacc": h.test_bacc, "seconds": h.seconds}
                            for h in done]}
    _sync(device)
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    _, te_logits = compute_embeddings(model, xe, device=device)
    tr_emb, _ = compute_embeddings(model, x, device=device)
    embed_s = time.perf_counter() - t1
    pred = te_logits.argmax(1)
    rep = classification_report_dict(ye, pred, 10, train_counts=np.bincount(y, minlength=10))
    out = {
        "epochs": epochs, "n_train": int(len(x)), "train_counts": np.bincount(y, minlength=10).tolist(),
        "n_test": int(len(xe)), "accel": accel.__dict__, "train_s": train_s, "embed_s": embed_s,
        "wall_s": train_s + embed_s, "test_balanced_accuracy": float(balanced_accuracy_score(ye, pred)),
        "g_mean": rep["g_mean"], "macro_f1": rep["macro_f1"], "per_class_recall": rep["per_class_recall"],
        "groups": rep.get("groups"), "embed_dim": int(tr_emb.shape[1]),
        "history": [{"epoch": h.epoch, "loss": h.loss, "train_acc": h.train_acc, "test_bacc": h.test_bacc,
                     "seconds": h.seconds} for h in hist],
        "data": "CIFAR-10-LT rho=100 from the JPEG stand-in cifar10-jpeg (quality 75), not the original CIFAR-10",
    }
    log(f"full run: {train_s:.1f} s training + {embed_s:.1f} s embedding, "
        f"test balanced accuracy {out['test_balanced_accuracy']:.4f}")
    return out


# ---------------------------------------------------------------------------------------- main
def _merge(path: Path, key: str, value: dict) -> None:
    doc = json.loads(path.read_text()) if path.is_file() else {}
    doc[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", type=Path, default=ROOT / ".whl" / "cifar10_lt_r100.npz")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu_h200.json")
    ap.add_argument("--only", default="eos,throughput,full", help="comma-separated sections")
    ap.add_argument("--epochs", type=int, default=200, help="epochs of the full run")
    ap.add_argument("--steps", default=",".join(s for s, _ in STEPS), help="throughput steps to run")
    ap.add_argument("--throughput-budget", type=float, default=170.0, help="seconds before later steps are skipped")
    ap.add_argument("--compile", default="auto", help="full run: auto (best throughput step), none, or a mode")
    ap.add_argument("--quick", action="store_true", help="tiny sizes on whatever device (code paths only)")
    args = ap.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    _merge(args.out, "machine", machine() | {"device": str(device), "quick": args.quick})
    log(f"device {device}, sections {sections}")
    if "eos" in sections:
        sizes = [(3000, 32, 10), (3000, 32, 50)] if args.quick else [(100_000, 512, 10), (100_000, 512, 1000)]
        _merge(args.out, "eos", bench_eos(device, sizes))
    data = None
    if {"throughput", "full"} & set(sections):
        t0 = time.perf_counter()
        data = load_bundle(args.bundle)
        log(f"bundle decoded in {time.perf_counter() - t0:.1f} s: {data['x_train'].shape}, {data['x_test'].shape}")
        if args.quick:
            keep = np.concatenate([np.flatnonzero(data["y_train"] == c)[:20] for c in range(10)])
            data = {**data, "x_train": data["x_train"][keep], "y_train": data["y_train"][keep],
                    "x_test": data["x_test"][::100], "y_test": data["y_test"][::100]}
    if "throughput" in sections:
        steps = [s.strip() for s in args.steps.split(",")]
        _merge(args.out, "throughput", bench_throughput(data, device, 2 if args.quick else 3, steps,
                                                        args.throughput_budget))
    if "full" in sections:
        if args.compile == "auto":
            prev = json.loads(args.out.read_text()).get("throughput") if args.out.is_file() else None
            mode = _best_compile(prev)
        else:
            mode = None if args.compile == "none" else args.compile
        _merge(args.out, "full", bench_full(data, device, 2 if args.quick else args.epochs, mode))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
