"""The accuracy study: every method against the re-trained-head control, on three long-tailed sets.

Settings (exponential profile, small CNN on CPU, phase 1 long enough to *memorise* the training
set — checked on the training set only, never the test set):

* ``digits``  — scikit-learn digits, rho = 50, the engine's default phase 1 (``TrainConfig()``);
* ``fashion`` — Fashion-MNIST, rho = 100, 120 epochs (train accuracy 0.98 at 120 epochs, issue 7);
* ``cifar``   — CIFAR-10-LT, rho = 100, 60 epochs, from the JPEG stand-in folder
  ``$EOS_DATA_DIR/cifar10-jpeg`` (a public re-encoding of CIFAR-10 at JPEG quality 75: pixels
  differ slightly from the original, so its figures are labelled "CIFAR-10-LT (JPEG stand-in)").

For every seed: one phase 1, then phases 2-3 for every method on the same embeddings with the same
head seed. Reported per method: mean and 95 % t-interval of balanced accuracy, g-mean and macro-F1
and of their *paired* difference from ``crt`` (same phase 1, same head seed); per class: each gap
measure with its permutation null band (p5-p95) and p-value; the size-gap Spearman correlation with
its permutation p-value. Nothing is tuned: whatever the numbers say is the result.

The statistics come from the engine (``eos_core.evaluation._compare`` for the intervals, ``gap.json``'s fields
for the bands); this script only runs and tabulates. The functions marked "adapter" are the only
places that know those field names; the metric and measure ids are the engine's (``eos_core.names``).

Usage:
    .venv/bin/python bench/bench_accuracy.py                      # the full study (3 seeds, ~1 h here)
    .venv/bin/python bench/bench_accuracy.py --quick              # digits, 1 seed, 5 epochs (a smoke run)
    .venv/bin/python bench/bench_accuracy.py --estimate           # time 2 epochs per setting, project the study
    .venv/bin/python bench/bench_accuracy.py --settings cifar --seeds 0 --cifar-epochs 60
Writes bench/results/accuracy.json and accuracy.md (accuracy_quick.*, accuracy_estimate.json).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from common import RESULTS, data_dir, machine, write_result

from eos_core.names import CONTROL_METHOD, GAP_MEASURES, HEADLINE

HEADLINE_NAMES = {"balanced_accuracy": "balanced accuracy", "g_mean": "g-mean", "macro_f1": "macro-F1"}

SETTINGS: dict[str, dict[str, Any]] = {
    "digits": {"title": "digits ρ=50", "dataset": "digits", "ratio": 50.0, "model": "auto"},
    "fashion": {"title": "Fashion-MNIST ρ=100", "dataset": "fashion-mnist", "ratio": 100.0, "model": "small_cnn"},
    "cifar": {"title": "CIFAR-10-LT ρ=100 (JPEG stand-in)", "dataset": "folder", "folder": "cifar10-jpeg",
              "ratio": 100.0, "model": "small_cnn"},
}


# --------------------------------------------------------------------------- configs

def make_config(key: str, *, seed: int, epochs: int | None, head_epochs: int | None, methods: list[str],
                model: str | None = None, augment: str = "default"):
    """The RunConfig of one setting and seed; ``epochs=None`` keeps the engine's default phase 1."""
    from eos_core.config import DataConfig, HeadConfig, RunConfig, TrainConfig

    s = SETTINGS[key]
    folder = str(Path(data_dir()) / s["folder"]) if "folder" in s else None
    data = DataConfig(dataset=s["dataset"], ratio=s["ratio"], profile="exp", folder=folder, seed=seed)
    train_kw: dict[str, Any] = {"model": model or s["model"], "seed": seed, "gap_snapshots": False}
    if augment != "default":  # "default": the engine's per-dataset default (off for digits only)
        train_kw["augment"] = augment == "on"
    if epochs is not None:
        train_kw["epochs"] = epochs
    head_kw: dict[str, Any] = {"seed": seed}
    if head_epochs is not None:
        head_kw["epochs"] = head_epochs
    cfg = RunConfig(data=data, train=TrainConfig(**train_kw), head=HeadConfig(**head_kw), methods=list(methods))
    cfg.validate()
    return cfg


def available_methods() -> list[str]:
    """Every method id the engine accepts, in display order."""
    from eos_core import config

    return list(config.METHODS)


# --------------------------------------------------------------------------- adapters (field names)

def method_record(metrics: dict[str, Any], n_synthetic: int, seconds: float) -> dict[str, Any]:
    """Adapter: what one method's phase-3 result contributes to the JSON (absent fields -> None)."""
    keep = HEADLINE + ("per_class_recall", "delta_vs_crt", "partner_share", "enemy_share", "nn_gap_closed",
                       "nn1_recall_change")
    return {k: metrics.get(k) for k in keep} | {"n_synthetic": n_synthetic, "seconds": seconds}


def gap_measures(gap: dict[str, Any]) -> list[str]:
    """Adapter: the gap measures (``GAP_MEASURES``) a gap report holds."""
    rows = gap.get("per_class") or [{}]
    return [m for m in GAP_MEASURES if m in rows[0]]


def summarize_methods(per_seed: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Adapter: mean and 95 % t-interval of every headline metric and of its paired Δ vs crt.

    Delegates to ``eos_core.evaluation.aggregate``. Without a ``crt`` head in every seed, only the
    per-seed values are reported (``available: False``).
    """
    from eos_core.evaluation import aggregate

    if not per_seed or any(CONTROL_METHOD not in run for run in per_seed):
        return {"available": False, "note": f"no {CONTROL_METHOD!r} head in every seed: no paired differences."}
    return {"available": True} | aggregate(per_seed)


def summarize_gap(gaps: list[dict[str, Any]], classes: list[str]) -> dict[str, Any]:
    """Adapter: per class and measure, the value, null band and p-value over seeds; the size-gap Spearman.

    Per seed each class has ``<m>``, ``<m>_p5``, ``<m>_p95`` and ``<m>_p`` (``gap.json``).
    Across seeds: the mean gap and the mean band edges; p-values are listed per seed (a mean of
    p-values is not a p-value) with the number of seeds where ``p < 0.05``.
    """
    measures = gap_measures(gaps[0]) if gaps else []
    out: dict[str, Any] = {"measures": measures, "per_class": [], "size_gap_spearman": {}, "size_gap_spearman_p": {}}
    for c, name in enumerate(classes):
        rows = [g["per_class"][c] for g in gaps]
        row: dict[str, Any] = {"class": name, "train_count": rows[0].get("train_count"),
                               "test_count": rows[0].get("test_count")}
        for m in measures:
            for suffix in ("", "_p5", "_p95"):
                row[m + suffix] = _mean([r.get(m + suffix) for r in rows])
            ps = [r.get(m + "_p") for r in rows]
            row[m + "_p"] = ps
            row[m + "_significant_seeds"] = sum(1 for p in ps if p is not None and p < 0.05) if any(
                p is not None for p in ps) else None
        out["per_class"].append(row)
    for key in ("size_gap_spearman", "size_gap_spearman_p"):
        for m in measures:
            out[key][m] = [(g.get(key) or {}).get(m) for g in gaps]
    return out


def _mean(values: list[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


# --------------------------------------------------------------------------- running

def run_setting(key: str, args: argparse.Namespace, methods: list[str]) -> dict[str, Any]:
    """Every seed of one setting: phase 1 once per seed, every method on its embeddings."""
    from eos_core.pipeline import run_pipeline

    epochs = getattr(args, f"{key}_epochs")
    per_seed = []
    cfg = None
    for seed in args.seed_list:
        cfg = make_config(key, seed=seed, epochs=epochs, head_epochs=args.head_epochs, methods=methods,
                          model=args.cifar_model if key == "cifar" else None,
                          augment=getattr(args, f"{key}_augment", "default"))
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_pipeline(cfg, data_dir=data_dir())
        p1 = res.phase1
        record = {
            "seed": seed,
            "epochs": cfg.train.epochs,
            "augment": cfg.augment_enabled,
            "model": _resolved_model(cfg.train.model, p1.model_info),
            "classes": p1.classes,
            "train_counts": p1.train_counts,
            "test_counts": p1.test_counts,
            "phase1_train_recall": p1.train_recall,  # on the clean training set: the memorisation check
            "phase1_last_epoch": {k: (p1.history[-1] if p1.history else {}).get(k) for k in ("train_acc", "loss")},
            "methods": {n: method_record(m.metrics, m.n_synthetic, m.seconds) for n, m in res.methods.items()},
            "gap": res.gap,
            "timings": dict(p1.timings) | {"total_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0},
        }
        per_seed.append(record)
        bacc = ", ".join(f"{n} {m.metrics['balanced_accuracy']:.3f}" for n, m in res.methods.items())
        print(f"[{key} seed {seed}] {record['timings']['total_s']:.0f} s; min train recall "
              f"{min(p1.train_recall):.3f}; {bacc}", flush=True)
    classes = per_seed[0]["classes"]
    min_recall = min(min(r["phase1_train_recall"]) for r in per_seed)
    return {
        "title": SETTINGS[key]["title"],
        "model": per_seed[0]["model"],
        "config": cfg.to_dict() if cfg is not None else None,
        "epochs": cfg.train.epochs if cfg is not None else epochs,
        "seeds": args.seed_list,
        "min_phase1_train_recall": min_recall,
        "memorised": min_recall >= 0.95,
        "summary": summarize_methods([{n: m for n, m in r["methods"].items()} for r in per_seed]),
        "gap_summary": summarize_gap([r["gap"] for r in per_seed], classes),
        "per_seed": per_seed,
    }


def _resolved_model(model: str, info: dict[str, Any]) -> str:
    """The model "auto" picks (ResNet-32 for colour images of 32 px or more, else the small CNN)."""
    if model != "auto":
        return model
    colour = info.get("in_channels") == 3 and (info.get("image_size") or 0) >= 32
    return "resnet32" if colour else "small_cnn"


def estimate(args: argparse.Namespace, methods: list[str]) -> dict[str, Any]:
    """Time one short pipeline per setting and project the full study's runtime on this machine."""
    from eos_core.pipeline import run_pipeline

    out: dict[str, Any] = {"machine": machine(), "estimate_epochs": args.estimate_epochs, "settings": {}}
    total = 0.0
    for key in args.setting_list:
        full_epochs = getattr(args, f"{key}_epochs")
        cfg = make_config(key, seed=0, epochs=args.estimate_epochs, head_epochs=args.head_epochs, methods=methods,
                          model=args.cifar_model if key == "cifar" else None)
        full_epochs = full_epochs if full_epochs is not None else make_config(
            key, seed=0, epochs=None, head_epochs=None, methods=methods).train.epochs
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_pipeline(cfg, data_dir=data_dir())
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        epoch_s = sum(h["seconds"] for h in res.phase1.history) / max(1, len(res.phase1.history))
        per_seed = wall + (full_epochs - args.estimate_epochs) * epoch_s
        study = per_seed * len(args.seed_list)
        total += study
        # On a shared machine wall time follows the load; with one torch thread, CPU seconds are
        # about what an idle machine would take, so the projection is given in both.
        out["settings"][key] = {"wall_s": wall, "cpu_s": cpu, "epoch_s": epoch_s, "full_epochs": full_epochs,
                                "projected_per_seed_s": per_seed, "projected_s": study,
                                "projected_cpu_s": study * cpu / wall,
                                "methods_s": sum(m.seconds for m in res.methods.values()),
                                "phase1_timings": dict(res.phase1.timings),
                                "n_train": sum(res.phase1.train_counts)}
        print(f"[{key}] {args.estimate_epochs} epochs: {wall:.0f} s wall ({cpu:.0f} s CPU), {epoch_s:.1f} s/epoch "
              f"-> {full_epochs} epochs x {len(args.seed_list)} seeds ≈ {study / 60:.0f} min wall, "
              f"{study * cpu / wall / 60:.0f} min CPU", flush=True)
    out["projected_total_s"] = total
    out["projected_total_cpu_s"] = sum(s["projected_cpu_s"] for s in out["settings"].values())
    print(f"projected study: {total / 60:.0f} min wall at load {out['machine']['loadavg']}, "
          f"{out['projected_total_cpu_s'] / 60:.0f} min CPU")
    return out


# --------------------------------------------------------------------------- markdown

def _fmt(v: Any, digits: int = 3, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def _interval(iv: dict[str, Any] | None, signed: bool = False) -> str:
    if not iv:
        return "–"
    text = _fmt(iv.get("mean"), signed=signed)
    if iv.get("low") is not None and iv.get("high") is not None:
        text += f" [{_fmt(iv['low'], signed=signed)}, {_fmt(iv['high'], signed=signed)}]"
    return text


def markdown(results: dict[str, Any]) -> str:
    from eos_core.names import MODEL_LABELS, method_name

    lines = [f"Machine: {results['machine']['processor']}, {results['machine']['cpus']} CPUs, "
             f"torch {results['machine']['torch']}; {results['machine']['date']}; command: `{results['command']}`", ""]
    for res in results["settings"].values():
        n = len(res["seeds"])
        model = MODEL_LABELS.get(res["model"], res["model"])
        lines += [f"### {res['title']} — {model}, {res['epochs']} epochs, {n} seed(s)", "",
                  f"Phase-1 train recall, smallest class over seeds: {_fmt(res['min_phase1_train_recall'])} "
                  f"({'memorised' if res['memorised'] else 'NOT memorised: below 0.95'}).", ""]
        summ = res["summary"]
        head = ["method"] + [HEADLINE_NAMES[k] for k in HEADLINE] + [f"Δ {HEADLINE_NAMES[k]} vs cRT" for k in HEADLINE]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        if summ.get("available"):
            for m, s in summ["methods"].items():
                d = s.get("delta_vs_crt") or {}
                cells = [_interval(s["metrics"].get(k)) for k in HEADLINE] + [
                    _interval(d.get(k), signed=True) if d else "(control)" for k in HEADLINE]
                lines.append(f"| {method_name(m)} | " + " | ".join(cells) + " |")
            lines += ["", f"Mean over seeds [95 % t-interval]; Δ is paired: same phase 1 and head seed as cRT. "
                          f"{'One seed gives no interval.' if n == 1 else ''}".rstrip()]
        else:
            for m in res["per_seed"][0]["methods"]:
                vals = [_mean([r["methods"][m][k] for r in res["per_seed"]]) for k in HEADLINE]
                lines.append(f"| {method_name(m)} | " + " | ".join(_fmt(v) for v in vals) + " | – | – | – |")
            lines += ["", f"Means over seeds only ({summ.get('note')})"]
        gs = res["gap_summary"]
        for m in gs["measures"]:
            lines += ["", f"Gap measure `{m}` per class (means over seeds; null band = permutation p5–p95):", "",
                      "| class | train n | test n | gap | null band | p per seed | seeds with p < 0.05 |",
                      "|---|---|---|---|---|---|---|"]
            for row in gs["per_class"]:
                band = (f"{_fmt(row.get(m + '_p5'))}–{_fmt(row.get(m + '_p95'))}"
                        if row.get(m + "_p5") is not None else "–")
                sig = row.get(m + "_significant_seeds")
                ps = ", ".join(_fmt(p) for p in row.get(m + "_p") or [])
                lines.append(f"| {row['class']} | {row['train_count']} | {row['test_count']} | {_fmt(row.get(m))} | "
                             f"{band} | {ps or '–'} | {'–' if sig is None else f'{sig}/{n}'} |")
            rho = ", ".join(_fmt(v) for v in gs["size_gap_spearman"].get(m, []))
            p = ", ".join(_fmt(v) for v in gs["size_gap_spearman_p"].get(m, []))
            lines += ["", f"Spearman(train size, `{m}`) per seed: {rho or '–'}; permutation p: {p or '–'}"]
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settings", default="digits,fashion,cifar", help="comma-separated: digits,fashion,cifar")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--digits-epochs", type=int, default=None, help="default: the engine's TrainConfig default")
    # Phase 1 must memorise (the paper's regime), judged on the TRAINING set only. Without augmentation
    # the small CNN fits Fashion-MNIST rho=100 in 30 epochs (lowest per-class train recall 0.999); with
    # it, 60 epochs left shirt at 0.69. CIFAR-10-LT uses the same no-augmentation recipe.
    ap.add_argument("--fashion-epochs", type=int, default=30)
    ap.add_argument("--cifar-epochs", type=int, default=40)
    for key in ("fashion", "cifar"):
        ap.add_argument(f"--{key}-augment", choices=("default", "on", "off"), default="off",
                        help="phase-1 augmentation (default: the engine's per-dataset default)")
    ap.add_argument("--cifar-model", default="small_cnn", help="small_cnn (CPU) or resnet32 (with a GPU)")
    ap.add_argument("--head-epochs", type=int, default=None, help="default: the engine's HeadConfig default")
    ap.add_argument("--methods", default=None, help="comma-separated method ids (default: all)")
    ap.add_argument("--quick", action="store_true", help="digits only, 1 seed, 5 epochs: a smoke run")
    ap.add_argument("--estimate", action="store_true", help="time a short run per setting and project the study")
    ap.add_argument("--estimate-epochs", type=int, default=2)
    args = ap.parse_args(argv)
    if args.quick:
        args.settings, args.seeds, args.digits_epochs = "digits", "0", 5
    args.setting_list = [s.strip() for s in args.settings.split(",") if s.strip()]
    bad = [s for s in args.setting_list if s not in SETTINGS]
    if bad:
        ap.error(f"unknown setting(s) {', '.join(bad)}; choose from {', '.join(SETTINGS)}")
    args.seed_list = [int(s) for s in args.seeds.split(",")]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from eos_core.phase1 import configure_threads

    configure_threads()
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else available_methods()
    if args.estimate:
        write_result("accuracy_estimate", estimate(args, methods))
        return
    t0 = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine(),
        "command": "python bench/bench_accuracy.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "methods": methods,
        "settings": {},
    }
    name = "accuracy_quick" if args.quick else "accuracy"
    for key in args.setting_list:  # saved after every setting: a long study keeps what it finished
        results["settings"][key] = run_setting(key, args, methods)
        write_result(name + "_partial", results)
    results["total_s"] = time.perf_counter() - t0
    write_result(name, results)
    text = markdown(results)
    (RESULTS / f"{name}.md").write_text(text)
    print("\n" + text)
    print(f"wrote {RESULTS / (name + '.json')} and {name}.md in {results['total_s'] / 60:.1f} min "
          f"(EOS_TORCH_THREADS={os.environ.get('EOS_TORCH_THREADS', 'default')})")


if __name__ == "__main__":
    main()
