"""One pipeline for phases 1–3, shared by the CLI, the app and plain Python.

``run_phase1`` trains the CNN on the imbalanced training set and saves its embeddings;
``run_methods`` balances those embeddings with each oversampler and re-trains the head;
``run_pipeline`` does both. Every result is saved in the run store as it is produced, so the app
can reopen any run without recomputing it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .config import RunConfig
from .errors import Cancelled, EOSError
from .store import RunStore

Progress = Callable[[dict[str, Any]], None]


@dataclass
class Embeddings:
    """Phase-1 embeddings and logits (float32) with labels (int64)."""

    train_emb: np.ndarray      # (N, D)
    train_logits: np.ndarray   # (N, C)
    train_y: np.ndarray        # (N,)
    test_emb: np.ndarray       # (M, D)
    test_logits: np.ndarray    # (M, C)
    test_y: np.ndarray         # (M,)


@dataclass
class Phase1Result:
    """Everything phase 1 produced; ``model`` is None when loaded from the store without weights."""

    run_id: str | None
    config: RunConfig
    classes: list[str]
    train_counts: list[int]
    test_counts: list[int]
    train_idx: np.ndarray
    history: list[dict[str, Any]]
    embeddings: Embeddings
    metrics: dict[str, Any]
    train_recall: list[float]
    timings: dict[str, float]
    gap: dict[str, Any]
    head: torch.nn.Linear
    model: torch.nn.Module | None = None
    model_info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass
class MethodResult:
    """Phases 2–3 for one oversampler."""

    name: str
    metrics: dict[str, Any]
    n_synthetic: int
    seconds: float
    X_syn: np.ndarray            # (S, D) float32
    y_syn: np.ndarray            # (S,) int64
    provenance: dict[str, np.ndarray] | None
    head: torch.nn.Linear | None


@dataclass
class PipelineResult:
    phase1: Phase1Result
    methods: dict[str, MethodResult]
    gap: dict[str, Any]


def _emit(progress: Progress | None, **event: Any) -> None:
    if progress is not None:
        progress(event)


def _per_class_recall(y: np.ndarray, pred: np.ndarray, num_classes: int) -> list[float]:
    out = []
    for c in range(num_classes):
        m = y == c
        out.append(float((pred[m] == c).mean()) if m.any() else float("nan"))
    return out


def _channel_stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    mean = x.mean(axis=(0, 2, 3))
    std = x.std(axis=(0, 2, 3))
    return mean.astype(float).tolist(), np.maximum(std, 1e-3).astype(float).tolist()


# --------------------------------------------------------------------------- phase 1

def run_phase1(cfg: RunConfig, *, store: RunStore | None = None, data_dir: str | None = None,
               progress: Progress | None = None, cancel: threading.Event | None = None,
               finalize: bool = True) -> Phase1Result:
    """Load data, imbalance it, train the CNN, embed train and test sets.

    Parameters
    ----------
    cfg : RunConfig
    store : RunStore, optional
        When given, the run is registered and every artifact saved as it is produced.
    progress : callable, optional
        Receives ``{"phase": "data"}``, ``{"phase": "train", **EpochStats}`` per epoch and
        ``{"phase": "embed"}``.
    finalize : bool
        Mark the stored run finished at the end (``run_pipeline`` finishes it after phase 3).
    """
    from .data import load_dataset
    from .device import choose_device
    from .imbalance import make_imbalanced

    cfg.validate()
    _emit(progress, phase="data")
    data = load_dataset(cfg.data.dataset, data_dir, folder=cfg.data.folder)
    idx = make_imbalanced(data.y_train, cfg.data.ratio, cfg.data.profile, max_per_class=cfg.data.max_per_class,
                          class_order=cfg.data.class_order, num_classes=data.num_classes, seed=cfg.data.seed)
    run_id = store.create_run(cfg.to_dict(), kind="pipeline") if store is not None else None
    try:
        return _phase1_body(cfg, data, idx, run_id, store, progress, cancel, choose_device, finalize)
    except BaseException as err:
        if store is not None and run_id is not None:
            if isinstance(err, Cancelled):
                store.cancel_run(run_id)
            else:
                store.fail_run(run_id, str(err) if isinstance(err, EOSError) else f"{type(err).__name__}: {err}")
        raise


def _phase1_body(cfg, data, idx, run_id, store, progress, cancel, choose_device, finalize) -> Phase1Result:
    from .augment import SPECS
    from .embeddings import compute_embeddings
    from .gap import generalization_gap, snapshot_subsample
    from .metrics import classification_report_dict
    from .models import build_model
    from .train import train_model

    c = data.num_classes
    x_tr, y_tr = data.x_train[idx], data.y_train[idx]
    train_counts = np.bincount(y_tr, minlength=c)
    device = choose_device(cfg.train.device)
    mean, std = _channel_stats(x_tr)
    info = {"in_channels": data.channels, "image_size": data.image_size, "num_classes": c,
            "mean": mean, "std": std, "model": cfg.train.model}
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.train.model, in_channels=data.channels, num_classes=c, image_size=data.image_size,
                        mean=mean, std=std)
    snap = None
    if cfg.train.gap_snapshots:
        snap = (snapshot_subsample(y_tr, cfg.train.snapshot_size, cfg.train.seed),
                snapshot_subsample(data.y_test, cfg.train.snapshot_size, cfg.train.seed))
    history: list[dict[str, Any]] = []

    def on_epoch(stats) -> None:
        history.append(stats.to_dict())
        if store is not None:
            store.save_json(run_id, "history", history)
        _emit(progress, phase="train", **stats.to_dict())

    t0 = time.perf_counter()
    train_cfg = dataclasses.replace(cfg.train, augment=cfg.augment_enabled)  # the dataset default resolved
    train_model(model, x_tr, y_tr, data.x_test, data.y_test, train_cfg, num_classes=c, device=device,
                augment=SPECS.get(data.name), progress=on_epoch, cancel=cancel, snapshot_idx=snap)
    phase1_s = time.perf_counter() - t0
    _emit(progress, phase="embed")
    t0 = time.perf_counter()
    tr_emb, tr_logits = compute_embeddings(model, x_tr, device=device)
    te_emb, te_logits = compute_embeddings(model, data.x_test, device=device)
    embed_s = time.perf_counter() - t0
    emb = Embeddings(tr_emb, tr_logits, y_tr.astype(np.int64), te_emb, te_logits, data.y_test.astype(np.int64))
    test_pred = te_logits.argmax(1)
    train_pred = tr_logits.argmax(1)
    metrics = classification_report_dict(emb.test_y, test_pred, c, train_counts=train_counts)
    gap = generalization_gap(tr_emb, emb.train_y, te_emb, emb.test_y, num_classes=c, train_pred=train_pred,
                             test_pred=test_pred, seed=cfg.train.seed, cancel=cancel).to_dict()
    head = torch.nn.Linear(model.head.in_features, c)
    head.load_state_dict(model.head.state_dict())
    result = Phase1Result(
        run_id=run_id, config=cfg, classes=list(data.classes), train_counts=train_counts.tolist(),
        test_counts=np.bincount(data.y_test, minlength=c).tolist(), train_idx=idx, history=history,
        embeddings=emb, metrics=metrics, train_recall=_per_class_recall(emb.train_y, train_pred, c),
        timings={"phase1_s": phase1_s, "embed_s": embed_s}, gap=gap, head=head.cpu(), model=model.cpu(),
        model_info=info,
    )
    if store is not None:
        _save_phase1(store, result)
        if finalize:
            store.finish_run(run_id, metrics={"phase1": _headline(metrics)}, timings=result.timings)
        else:
            store.update_run(run_id, metrics={"phase1": _headline(metrics)}, timings=result.timings)
    return result


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in ("balanced_accuracy", "g_mean", "macro_f1")}


def _save_phase1(store: RunStore, r: Phase1Result) -> None:
    e = r.embeddings
    rid = r.run_id
    store.save_state_dict(rid, "model", r.model.state_dict())
    store.save_state_dict(rid, "head_phase1", r.head.state_dict())
    store.save_arrays(rid, "embeddings", train_emb=e.train_emb, train_logits=e.train_logits, train_y=e.train_y,
                      train_idx=r.train_idx, test_emb=e.test_emb, test_logits=e.test_logits, test_y=e.test_y)
    store.save_json(rid, "gap", r.gap)
    # phase1.json is written last: its presence marks a complete phase 1.
    store.save_json(rid, "phase1", {
        "classes": r.classes, "train_counts": r.train_counts, "test_counts": r.test_counts,
        "metrics": r.metrics, "train_recall": r.train_recall, "timings": r.timings, "model_info": r.model_info,
    })


def load_phase1(store: RunStore, run_id: str, *, with_model: bool = False) -> Phase1Result:
    """Re-open a saved phase 1 (no recomputation). Raises ``UnknownRun`` / ``EOSError``."""
    rec = store.get_run(run_id)
    if not store.has(run_id, "phase1", ".json"):
        raise EOSError(f"Run {run_id} has no finished phase 1 (status: {rec.status}).")
    meta = store.load_json(run_id, "phase1")
    arr = store.load_arrays(run_id, "embeddings")
    cfg = RunConfig.from_dict(rec.config)
    c = len(meta["classes"])
    head = torch.nn.Linear(arr["train_emb"].shape[1], c)
    head.load_state_dict(store.load_state_dict(run_id, "head_phase1"))
    model = None
    if with_model:
        from .models import build_model

        info = meta["model_info"]
        model = build_model(cfg.train.model, in_channels=info["in_channels"], num_classes=c,
                            image_size=info["image_size"], mean=info["mean"], std=info["std"])
        model.load_state_dict(store.load_state_dict(run_id, "model"))
        model.eval()
    history = store.load_json(run_id, "history") if store.has(run_id, "history", ".json") else []
    emb = Embeddings(arr["train_emb"], arr["train_logits"], arr["train_y"], arr["test_emb"], arr["test_logits"],
                     arr["test_y"])
    return Phase1Result(
        run_id=run_id, config=cfg, classes=meta["classes"], train_counts=meta["train_counts"],
        test_counts=meta["test_counts"], train_idx=arr["train_idx"], history=history, embeddings=emb,
        metrics=meta["metrics"], train_recall=meta["train_recall"], timings=meta["timings"],
        gap=store.load_json(run_id, "gap"), head=head, model=model, model_info=meta["model_info"],
    )


# --------------------------------------------------------------------------- phases 2-3

def run_method(phase1: Phase1Result, cfg: RunConfig, name: str, *, device: str | torch.device = "cpu",
               cancel: threading.Event | None = None) -> MethodResult:
    """Oversample the phase-1 training embeddings with one method and re-train the head.

    ``"none"`` keeps the phase-1 head as trained (no synthetic points); ``"crt"`` re-trains a head
    on the real embeddings only. Every re-trained head (``"crt"`` included) uses the same recipe
    and seed, ``cfg.head``; the draws of phase 2 use ``cfg.head.seed`` too, so one phase-3 seed
    fixes a method's whole result. ``metrics["partner_share"]`` is the share of enemy / self /
    same-class partners (:func:`eos_core.eos.partner_share`) for every method that makes rows (ROS:
    all "self"; SMOTE family: all "same_class"; EOS: all "enemy"), ``None`` for ``none``/``crt``.
    The paired difference from ``"crt"`` is added by :func:`run_methods`.
    """
    from .closure import closure_measures, synthetic_enemy_share
    from .eos import partner_share
    from .head import predict_head, train_head
    from .metrics import classification_report_dict
    from .oversampling import resample

    e = phase1.embeddings
    c = phase1.num_classes
    t0 = time.perf_counter()
    d = e.train_emb.shape[1]
    if name == "none":
        x_syn, y_syn, prov = np.zeros((0, d), np.float32), np.zeros(0, np.int64), None
        head = phase1.head
        resample_s = 0.0
        notes: list[str] = []
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            x_syn, y_syn, prov = resample(name, e.train_emb, e.train_y, k_neighbors=cfg.k_neighbors,
                                          random_state=cfg.head.seed)
        notes = _resample_notes(name, caught, e.train_y, y_syn, phase1.classes)
        resample_s = time.perf_counter() - t0
        x_bal = np.concatenate([e.train_emb, x_syn]) if len(x_syn) else e.train_emb
        y_bal = np.concatenate([e.train_y, y_syn]) if len(y_syn) else e.train_y
        head = train_head(x_bal, y_bal, cfg.head, num_classes=c,
                          init=phase1.head if cfg.head.init_from_phase1 else None, device=device, cancel=cancel)
    seconds = time.perf_counter() - t0
    pred, _ = predict_head(head, e.test_emb, device=device)
    metrics = classification_report_dict(e.test_y, pred, c, train_counts=phase1.train_counts)
    closure = closure_measures(e.train_emb, e.train_y, x_syn, y_syn, e.test_emb, e.test_y, num_classes=c)
    for key in ("nn_gap_closed", "nn1_recall", "nn1_recall_change"):
        metrics[key] = [None if not np.isfinite(v) else float(v) for v in closure[key]]
    metrics["nn_gap_closed_note"] = closure["nn_gap_closed_note"]
    metrics["warnings"] = notes
    metrics["enemy_share"] = float(synthetic_enemy_share(e.train_emb, e.train_y, x_syn, y_syn)) if len(x_syn) else None
    metrics["resample_s"] = resample_s
    metrics["head_s"] = seconds - resample_s

    metrics["partner_share"] = partner_share(e.train_y, prov["base"], prov["partner"]) if prov else None
    return MethodResult(name, metrics, int(len(x_syn)), seconds, x_syn.astype(np.float32), y_syn.astype(np.int64),
                        prov, head)


def _resample_notes(name: str, caught: list, train_y: np.ndarray, y_syn: np.ndarray,
                    classes: list[str]) -> list[str]:
    """One-line notes a user should see beside a method's results (and on stderr, as before).

    The oversamplers' own warnings (e.g. ADASYN skipping a class) plus one note per class that
    should have been filled to the largest class's size but received no synthetic point at all
    (Borderline-SMOTE does this silently for a class without "danger" points).
    """
    from .names import method_name

    notes = [str(w.message) for w in caught]
    for w in caught:  # still shown where warnings are shown (the CLI prints them)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if name != "crt":
        counts = np.bincount(train_y, minlength=len(classes))
        made = np.bincount(y_syn, minlength=len(classes)) if len(y_syn) else np.zeros(len(classes), np.int64)
        for c in np.flatnonzero((counts > 0) & (counts < counts.max()) & (made == 0)):
            notes.append(f"{method_name(name)} made no synthetic points for class {classes[c]!r} "
                         f"({counts[c]} training points).")
    return notes


def run_methods(phase1: Phase1Result, cfg: RunConfig, *, methods: list[str] | None = None,
                store: RunStore | None = None, progress: Progress | None = None,
                cancel: threading.Event | None = None, finalize: bool = True) -> dict[str, MethodResult]:
    """Phases 2–3 for every requested method; each result is saved as soon as it exists.

    The control ``"crt"`` is added (and run first) whenever another method is requested, so every
    other method's ``metrics["delta_vs_crt"]`` — its balanced accuracy, g-mean and macro-F1 minus
    those of ``"crt"`` on the same phase 1 with the same head seed (:func:`eos_core.compare.delta_vs`)
    — always exists. The returned dict follows the request order (``"crt"`` placed after ``"none"``).
    """
    from .compare import delta_vs
    from .names import CONTROL_METHOD, METHODS

    names = list(dict.fromkeys(methods if methods is not None else cfg.methods))
    bad = [m for m in names if m not in METHODS]
    if bad:
        from .errors import ConfigError

        raise ConfigError(f"Unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}.")
    if names and CONTROL_METHOD not in names:
        names.insert(1 if names[0] == "none" else 0, CONTROL_METHOD)
    order = [CONTROL_METHOD] + [m for m in names if m != CONTROL_METHOD] if names else []
    from .device import choose_device

    device = choose_device(cfg.train.device)
    rid = phase1.run_id if store is not None else None
    if rid is not None and store.get_run(rid).status != "running":
        store.reopen_run(rid)
    results: dict[str, MethodResult] = {}
    try:
        for i, name in enumerate(order):
            if cancel is not None and cancel.is_set():
                raise Cancelled("Cancelled before phase 3 finished.")
            _emit(progress, phase="method", name=name, index=i, total=len(order))
            res = run_method(phase1, cfg, name, device=device, cancel=cancel)
            if name != CONTROL_METHOD:
                res.metrics["delta_vs_crt"] = delta_vs(res.metrics, results[CONTROL_METHOD].metrics)
            results[name] = res
            if rid is not None:
                _save_method(store, rid, res)
        results = {m: results[m] for m in names}
        if rid is not None and finalize:
            done = store.get_run(rid).metrics.get("methods", {})
            done.update({k: _headline(v.metrics) for k, v in results.items()})
            store.finish_run(rid, metrics={"methods": done})
    except BaseException as err:
        if rid is not None:
            if isinstance(err, Cancelled):
                store.cancel_run(rid)
            else:
                store.fail_run(rid, str(err) if isinstance(err, EOSError) else f"{type(err).__name__}: {err}")
        raise
    return results


def _save_method(store: RunStore, rid: str, res: MethodResult) -> None:
    prov = res.provenance or {}
    store.save_arrays(rid, f"synthetic_{res.name}", X_syn=res.X_syn, y_syn=res.y_syn,
                      base=np.asarray(prov.get("base", np.zeros(0, np.int64))),
                      partner=np.asarray(prov.get("partner", np.zeros(0, np.int64))),
                      r=np.asarray(prov.get("r", np.zeros(0, np.float32))))
    if res.head is not None:
        store.save_state_dict(rid, f"head_{res.name}", res.head.state_dict())
    from .names import METHODS

    done = store.load_json(rid, "methods") if store.has(rid, "methods", ".json") else {}
    done[res.name] = {**res.metrics, "n_synthetic": res.n_synthetic, "seconds": res.seconds}
    # display order (the control runs first but is listed after "none")
    rank = {m: i for i, m in enumerate(METHODS)}
    store.save_json(rid, "methods", {m: done[m] for m in sorted(done, key=lambda m: rank.get(m, len(rank)))})


def load_methods(store: RunStore, run_id: str) -> dict[str, MethodResult]:
    """Saved phase-3 results of a run (synthetic points, provenance, heads)."""
    if not store.has(run_id, "methods", ".json"):
        return {}
    summary = store.load_json(run_id, "methods")
    out: dict[str, MethodResult] = {}
    for name, m in summary.items():
        arr = store.load_arrays(run_id, f"synthetic_{name}")
        prov = {k: arr[k] for k in ("base", "partner", "r")} if len(arr["base"]) else None
        head = None
        if store.has(run_id, f"head_{name}", ".pt"):
            sd = store.load_state_dict(run_id, f"head_{name}")
            head = torch.nn.Linear(sd["weight"].shape[1], sd["weight"].shape[0])
            head.load_state_dict(sd)
        metrics = {k: v for k, v in m.items() if k not in ("n_synthetic", "seconds")}
        out[name] = MethodResult(name, metrics, int(m["n_synthetic"]), float(m["seconds"]), arr["X_syn"],
                                 arr["y_syn"], prov, head)
    return out


def run_pipeline(cfg: RunConfig, *, store: RunStore | None = None, data_dir: str | None = None,
                 progress: Progress | None = None, cancel: threading.Event | None = None) -> PipelineResult:
    """Phases 1–3 for a config and every oversampler in ``cfg.methods``."""
    p1 = run_phase1(cfg, store=store, data_dir=data_dir, progress=progress, cancel=cancel, finalize=False)
    methods = run_methods(p1, cfg, store=store, progress=progress, cancel=cancel)
    gap = dict(p1.gap)
    # Per method and class: the share of the nearest-neighbour gap closed, and the 1-NN recall change.
    gap["closure"] = {name: m.metrics["nn_gap_closed"] for name, m in methods.items()}
    gap["nn1_recall_change"] = {name: m.metrics["nn1_recall_change"] for name, m in methods.items()}
    return PipelineResult(p1, methods, gap)
