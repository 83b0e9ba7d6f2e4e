"""What the command line prints: tables, the gap table with its null bands, and the JSON objects.

Kept apart from :mod:`eos_core.cli._main` (arguments, commands, errors) so each file holds one concern.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import Any

from ..errors import EOSError
from ..evaluation._verdict import verdict
from ..names import CONTROL_METHOD, GAP_LABELS, GAP_MEASURES, GAP_NAMES, HEADLINE, method_name
from ..presets import PRESETS, get_preset, preset_config, what_you_should_see


def fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def phase1_json(p1) -> dict[str, Any]:
    m = p1.metrics
    return {
        "run_id": p1.run_id,
        "dataset": p1.config.data.dataset,
        "classes": p1.classes,
        "model": p1.model_info.get("model"),  # the model actually built ("auto" resolved)
        "train_counts": p1.train_counts,
        "test_counts": p1.test_counts,
        "phase1": {k: m[k] for k in (*HEADLINE, "per_class_recall")}
        | {"train_recall": p1.train_recall, "groups": m.get("groups")},
        "history": [{k: h[k] for k in ("epoch", "loss", "train_acc", "test_bacc", "seconds")} for h in p1.history],
        "timings": p1.timings,
        "gap": p1.gap,
    }


def print_phase1(p1) -> None:
    m = p1.metrics
    rows = [(c, name, p1.train_counts[c], p1.test_counts[c], p1.train_recall[c], m["per_class_recall"][c])
            for c, name in enumerate(p1.classes)]
    print(table(["class", "name", "train n", "test n", "train acc", "test recall"], rows))
    print()
    print(f"balanced accuracy {m['balanced_accuracy']:.4f}   g-mean {m['g_mean']:.4f}   macro-F1 {m['macro_f1']:.4f}")
    print(f"phase 1 {p1.timings['phase1_s']:.1f} s, embeddings {p1.timings['embed_s']:.2f} s, run {p1.run_id}")


def print_gap(gap: dict[str, Any]) -> None:
    """Per class, each gap measure with its 5-95 % null band; * marks p < 0.05 (one-sided)."""
    def cell(g: dict[str, Any], m: str) -> str:
        if g.get(m) is None:
            return "-"
        band = f" [{fmt(g.get(f'{m}_p5'), 2)}, {fmt(g.get(f'{m}_p95'), 2)}]" if g.get(f"{m}_p5") is not None else ""
        star = " *" if (g.get(f"{m}_p") is not None and g[f"{m}_p"] < 0.05) else ""
        return f"{g[m]:.3f}{band}{star}"

    rows = [(g["class"], g["train_count"], *(cell(g, m) for m in GAP_MEASURES)) for g in gap["per_class"]]
    print(table(["class", "train n", *(GAP_NAMES[m] for m in GAP_MEASURES)], rows))
    for m in GAP_MEASURES:
        print(f"  {GAP_NAMES[m]}: {GAP_LABELS[m]}")
    null = gap.get("null") or {}
    if null.get("permutations"):
        print(f"  [band] = 5-95 % of {null['permutations']} train/test reshuffles within the class; "
              "* = p < 0.05, gap wider than the reshuffles")
    rho, rho_p = gap.get("size_gap_spearman") or {}, gap.get("size_gap_spearman_p") or {}
    print("Spearman(train size, gap): " + ", ".join(
        f"{GAP_NAMES[m]} {fmt(rho.get(m), 2)} (p {fmt(rho_p.get(m), 3)})" for m in GAP_MEASURES))


METHOD_KEYS = (*HEADLINE, "per_class_recall", "nn_gap_closed", "nn1_recall_change", "enemy_share", "delta_vs_crt",
               "partner_share", "warnings")


def run_json(res) -> dict[str, Any]:
    """One run's JSON: phase 1, ``seed``, per-method metrics and the gap report."""
    out = phase1_json(res.phase1)
    out["seed"] = res.phase1.config.seed
    out["methods"] = {name: {k: m.metrics.get(k) for k in METHOD_KEYS}
                      | {"n_synthetic": m.n_synthetic, "seconds": m.seconds} for name, m in res.methods.items()}
    out["gap"] = res.gap
    return out


def signed(v: float | None) -> str:
    return "-" if v is None else f"{v:+.3f}"


def interval(iv: dict[str, Any] | None) -> str:
    if iv is None:
        return "(control)"
    if iv["low"] is None:
        return signed(iv["mean"])
    return f"{signed(iv['mean'])} [{signed(iv['low'])}, {signed(iv['high'])}]"


def print_seeds(runs: list[dict[str, Any]], agg: dict[str, Any]) -> None:
    for r in runs:
        print(f"seed {r['seed']}: run {r['run_id']}, phase-1 bal. acc {r['phase1']['balanced_accuracy']:.4f}, "
              f"lowest train recall {min(r['phase1']['train_recall']):.3f}, phase 1 {r['timings']['phase1_s']:.1f} s")
    print()
    n = agg["n_seeds"]
    rows = [(method_name(m), a["metrics"]["balanced_accuracy"]["mean"],
             *(interval((a["delta_vs_crt"] or {}).get(k) if a["delta_vs_crt"] else None)
               for k in HEADLINE))
            for m, a in agg["methods"].items()]
    print(table(["method", "bal. acc (mean)", "Δ bal. acc vs cRT", "Δ g-mean vs cRT", "Δ macro-F1 vs cRT"], rows))
    print(f"Paired difference from {method_name(CONTROL_METHOD)} (same phase 1, same head seed): mean over "
          + (f"{n} seeds [95 % t-interval]." if n > 1 else "1 seed: no interval."))


def print_presets(args) -> int:
    """``presets``: one line per preset; with a name, its settings and what its measured run gave."""
    if not args.name:
        width = max(map(len, PRESETS))
        for p in PRESETS.values():
            print(f"{p.name.ljust(width)}  {p.summary}")
        return 0
    p = get_preset(args.name)
    print(f"{p.name}: {p.title}. {p.summary}")
    try:
        cfg = preset_config(p.name, data_dir=args.data_dir, folder=args.folder)
        d, t = cfg.data, cfg.train
        print(f"settings: dataset {d.dataset}, ρ={d.ratio:g}, profile {d.profile}, class cap {d.max_per_class}, "
              f"model {t.model}, {t.epochs} epochs, augmentation {'on' if cfg.augment_enabled else 'off'}")
    except EOSError as err:  # cifar10-lt without CIFAR-10 or a folder: still describe it
        print(f"settings: {err}")
    print(f"recipe: {p.why}")
    print(what_you_should_see(p.name))
    return 0


def verdict_json(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The verdict (:func:`eos_core.evaluation.verdict`) of :func:`run_json` objects, one per seed of one
    configuration: the gap part from the first run, the oversampling part paired over all of them."""
    return verdict(runs[0]["gap"], [r["methods"] for r in runs], classes=runs[0]["classes"])


def print_verdict(v: dict[str, Any]) -> None:
    """The verdict's two sentences, wrapped."""
    print(f"Verdict: {v['oversampling']['call']}")
    for part in ("gap", "oversampling"):
        print(textwrap.fill(v[part]["sentence"], width=100, initial_indent=f"  {part}: ", subsequent_indent="    "))


def study_json(res) -> dict[str, Any]:
    """A ratio study's JSON: its id and status, one object per run (``run_json`` plus ``ratio``), the summary."""
    rec = res.record
    ratios = {r["run_id"]: r["ratio"] for r in rec.runs}
    runs = [{"ratio": ratios[r.phase1.run_id], **run_json(r)} for r in res.results]
    return {"study_id": rec.study_id, "status": rec.status, "ratios": rec.config.ratios, "seeds": rec.config.seeds,
            "runs": runs, "summary": rec.summary}


def print_study(rec) -> None:
    """Per ratio, the size-gap Spearman of each gap measure; per method and ratio, Δ balanced accuracy vs cRT."""
    rows = rec.summary.get("ratios", [])
    print(f"study {rec.study_id}: {len(rec.runs)} runs ({rec.status})")
    def cell(r: dict, m: str) -> str:
        rho, ps = r["size_gap_spearman"].get(m), (r.get("size_gap_spearman_p") or {}).get(m) or []
        if rho is None:
            return "-"
        return f"{rho:+.2f}" + (f" (p {', '.join(f'{p:.3f}' for p in ps if p is not None)})"
                                 if any(p is not None for p in ps) else "")

    print(table(["ρ", "seeds", "smallest class n", *(f"Spearman {GAP_NAMES[m]}" for m in GAP_MEASURES)],
                [(f"{r['ratio']:g}", len(r["seeds"]), min(r["train_count"]), *(cell(r, m) for m in GAP_MEASURES))
                 for r in rows]))
    print("Spearman(train size, gap), mean over seeds, with each seed's permutation p: negative = the smaller "
          "the class, the wider the gap.")
    print()
    methods = [m for m in (rows[0]["methods"] if rows else {}) if m != CONTROL_METHOD]
    cells = [(method_name(m), *(interval((r["methods"].get(m) or {}).get("delta_vs_crt", {}).get("balanced_accuracy"))
                                if r["methods"].get(m) else "-" for r in rows)) for m in methods]
    print(table(["method", *(f"ρ={r['ratio']:g}" for r in rows)], cells))
    print(f"Δ balanced accuracy vs {method_name(CONTROL_METHOD)} (same phase 1, same head seed): mean over seeds "
          "[95 % t-interval when there are 2 or more].")
