"""One pipeline for phases 1–3, shared by the CLI, the app and plain Python.

``run_phase1`` trains the CNN on the imbalanced training set and saves its embeddings;
``run_methods`` balances those embeddings with each oversampler and re-trains the head;
``run_pipeline`` does both, then fits the run's 2-D map (:mod:`eos_core.maps._compute`). Every result is
saved in the run store as it is produced (through :mod:`eos_core.store._results`, the one reader and
writer of the format), so the app can reopen any run without recomputing it. Progress is reported
as the typed events of :mod:`eos_core.events`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .config import RunConfig
from .errors import Cancelled, EOSError
from .events import DataLoading, Embedding, EpochDone, MapFailed, MethodStarted, Progress, RunCreated, emit
from .store._results import Embeddings, MethodResult, Phase1Result, load_head, save_history, save_method, save_phase1
from .store._store import RunStore

__all__ = ["Embeddings", "MethodResult", "Phase1Result", "PipelineResult", "run_phase1", "run_method", "run_methods",
           "run_pipeline"]


@dataclass
class PipelineResult:
    phase1: Phase1Result
    methods: dict[str, MethodResult]
    gap: dict[str, Any]


def _record_failure(store: RunStore, run_id: str, err: BaseException) -> None:
    """The run's status after ``err``: cancelled, or failed with one sentence (and the error itself)."""
    if isinstance(err, Cancelled):
        store.cancel_run(run_id)
    else:
        store.fail_run(run_id, str(err) if isinstance(err, EOSError) else f"{type(err).__name__}: {err}", error=err)


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
        Receives :mod:`eos_core.events`: ``DataLoading``, ``RunCreated`` (with a store),
        ``EpochDone`` per epoch, ``Embedding``.
    finalize : bool
        Mark the stored run finished at the end (``run_pipeline`` finishes it after phase 3).
    """
    from .data._datasets import load_dataset
    from .data._imbalance import make_imbalanced
    from .phase1._device import choose_device

    cfg.validate()
    emit(progress, DataLoading())
    data = load_dataset(cfg.data.dataset, data_dir, folder=cfg.data.folder, cancel=cancel)
    idx = make_imbalanced(data.y_train, cfg.data.ratio, cfg.data.profile, max_per_class=cfg.data.max_per_class,
                          class_order=cfg.data.class_order, num_classes=data.num_classes, seed=cfg.data.seed)
    run_id = store.create_run(cfg.to_dict(), kind="pipeline") if store is not None else None
    if run_id is not None:
        emit(progress, RunCreated(run_id))
    try:
        return _phase1_body(cfg, data, idx, run_id, store, progress, cancel, choose_device, finalize)
    except BaseException as err:
        if store is not None and run_id is not None:
            _record_failure(store, run_id, err)
        raise


def _phase1_body(cfg, data, idx, run_id, store, progress, cancel, choose_device, finalize) -> Phase1Result:
    from .evaluation._metrics import classification_report_dict, finite_or_none, per_class_recall
    from .gap._report import generalization_gap, snapshot_subsample
    from .phase1._augment import SPECS
    from .phase1._embeddings import compute_embeddings
    from .phase1._estimate import record_phase1
    from .phase1._models import build_model, resolve_model
    from .phase1._train import train_model

    c = data.num_classes
    x_tr, y_tr = data.x_train[idx], data.y_train[idx]
    train_counts = np.bincount(y_tr, minlength=c)
    device = choose_device(cfg.train.device)
    mean, std = _channel_stats(x_tr)
    info = {"in_channels": data.channels, "image_size": data.image_size, "num_classes": c,
            "mean": mean, "std": std,
            "model": resolve_model(cfg.train.model, device=device, in_channels=data.channels,
                                   image_size=data.image_size)}  # the model built, "auto" resolved
    torch.manual_seed(cfg.train.seed)
    model = build_model(info["model"], in_channels=data.channels, num_classes=c, image_size=data.image_size,
                        mean=mean, std=std)
    snap = None
    if cfg.train.gap_snapshots:
        snap = (snapshot_subsample(y_tr, cfg.train.snapshot_size, cfg.train.seed),
                snapshot_subsample(data.y_test, cfg.train.snapshot_size, cfg.train.seed))
    history: list[dict[str, Any]] = []

    def on_epoch(event: EpochDone) -> None:
        history.append(event.stats.to_dict())
        if store is not None:
            save_history(store, run_id, history)
        emit(progress, event)

    t0 = time.perf_counter()
    train_cfg = dataclasses.replace(cfg.train, augment=cfg.augment_enabled)  # the dataset default resolved
    train_model(model, x_tr, y_tr, data.x_test, data.y_test, train_cfg, num_classes=c, device=device,
                augment=SPECS.get(data.name), progress=on_epoch, cancel=cancel, snapshot_idx=snap)
    phase1_s = time.perf_counter() - t0
    # what this phase 1 took over its timed estimate calibrates the form's later estimates (no timing here)
    record_phase1(train_cfg, phase1_s, n_train=len(y_tr), channels=data.channels, image_size=data.image_size,
                  num_classes=c, n_test=len(data.y_test))
    emit(progress, Embedding())
    t0 = time.perf_counter()
    tr_emb, tr_logits = compute_embeddings(model, x_tr, device=device, cancel=cancel)
    te_emb, te_logits = compute_embeddings(model, data.x_test, device=device, cancel=cancel)
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
        embeddings=emb, metrics=metrics, train_recall=finite_or_none(per_class_recall(emb.train_y, train_pred, c)),
        timings={"phase1_s": phase1_s, "embed_s": embed_s}, gap=gap, head=head.cpu(), model=model.cpu(),
        model_info=info,
    )
    if store is not None:
        save_phase1(store, result)
        if finalize:
            store.finish_run(run_id, metrics={"phase1": _headline(metrics)}, timings=result.timings)
        else:
            store.update_run(run_id, metrics={"phase1": _headline(metrics)}, timings=result.timings)
    return result


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in ("balanced_accuracy", "g_mean", "macro_f1")}


# --------------------------------------------------------------------------- phases 2-3

def run_method(phase1: Phase1Result, cfg: RunConfig, name: str, *, device: str | torch.device = "cpu",
               cancel: threading.Event | None = None) -> MethodResult:
    """Oversample the phase-1 training embeddings with one method and re-train the head.

    ``"none"`` keeps the phase-1 head as trained (no synthetic points); ``"crt"`` re-trains a head
    on the real embeddings only. Every re-trained head (``"crt"`` included) uses the same recipe
    and seed, ``cfg.head``; the draws of phase 2 use ``cfg.head.seed`` too, so one phase-3 seed
    fixes a method's whole result. ``metrics["partner_share"]`` is the share of enemy / self /
    same-class partners (:func:`eos_core.oversampling.partner_share`) for every method that makes rows (ROS:
    all "self"; SMOTE family: all "same_class"; EOS: all "enemy"), ``None`` for ``none``/``crt``.
    The paired difference from ``"crt"`` is added by :func:`run_methods`.
    """
    from .evaluation._head import predict_head, train_head
    from .evaluation._metrics import classification_report_dict, finite_or_none
    from .gap._closure import closure_measures, synthetic_enemy_share
    from .oversampling._eos import partner_share
    from .oversampling._resample import resample

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
        metrics[key] = finite_or_none(closure[key])
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
    those of ``"crt"`` on the same phase 1 with the same head seed (:func:`eos_core.evaluation.delta_vs`)
    — always exists. The returned dict follows the request order (``"crt"`` placed after ``"none"``).
    """
    from .evaluation._compare import delta_vs
    from .names import CONTROL_METHOD, METHODS

    names = list(dict.fromkeys(methods if methods is not None else cfg.methods))
    bad = [m for m in names if m not in METHODS]
    if bad:
        from .errors import ConfigError

        raise ConfigError(f"Unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}.")
    if names and CONTROL_METHOD not in names:
        names.insert(1 if names[0] == "none" else 0, CONTROL_METHOD)
    order = [CONTROL_METHOD] + [m for m in names if m != CONTROL_METHOD] if names else []
    from .phase1._device import choose_device

    device = choose_device(cfg.train.device)
    rid = phase1.run_id if store is not None else None
    if phase1.head is None:  # loaded torch-free (results.load_phase1): "none" and init need the head
        if rid is None:
            raise EOSError("This phase 1 has no head; load it with results.load_phase1(..., with_head=True).")
        phase1.head = load_head(store, rid, "phase1")
    if rid is not None and store.get_run(rid).status != "running":
        store.reopen_run(rid)
    results: dict[str, MethodResult] = {}
    try:
        for i, name in enumerate(order):
            if cancel is not None and cancel.is_set():
                raise Cancelled("Cancelled before phase 3 finished.")
            emit(progress, MethodStarted(name, i, len(order)))
            res = run_method(phase1, cfg, name, device=device, cancel=cancel)
            if name != CONTROL_METHOD:
                res.metrics["delta_vs_crt"] = delta_vs(res.metrics, results[CONTROL_METHOD].metrics)
            results[name] = res
            if rid is not None:
                save_method(store, rid, res)
        results = {m: results[m] for m in names}
        if rid is not None and finalize:
            done = store.get_run(rid).metrics.get("methods", {})
            done.update({k: _headline(v.metrics) for k, v in results.items()})
            store.finish_run(rid, metrics={"methods": done})
    except BaseException as err:
        if rid is not None:
            _record_failure(store, rid, err)
        raise
    return results


def run_pipeline(cfg: RunConfig, *, store: RunStore | None = None, data_dir: str | None = None,
                 progress: Progress | None = None, cancel: threading.Event | None = None,
                 with_map: bool = True) -> PipelineResult:
    """Phases 1–3 for a config and every oversampler in ``cfg.methods``, then (with a store and
    ``with_map``) the run's 2-D map (:func:`eos_core.maps.compute_map`).

    The map is not part of the experiment (no number depends on it), so it is an argument, not a
    config field. A map that fails leaves the run finished and emits ``MapFailed``: it can be
    computed later from the saved run.
    """
    p1 = run_phase1(cfg, store=store, data_dir=data_dir, progress=progress, cancel=cancel, finalize=False)
    methods = run_methods(p1, cfg, store=store, progress=progress, cancel=cancel)
    gap = dict(p1.gap)
    # Per method and class: the share of the nearest-neighbour gap closed, and the 1-NN recall change.
    gap["closure"] = {name: m.metrics["nn_gap_closed"] for name, m in methods.items()}
    gap["nn1_recall_change"] = {name: m.metrics["nn1_recall_change"] for name, m in methods.items()}
    if store is not None and with_map and not (cancel is not None and cancel.is_set()):
        from .maps._compute import compute_map

        try:
            compute_map(store, p1.run_id, p1=p1, progress=progress, cancel=cancel)
        except Exception:  # noqa: BLE001 - the run is complete without its map
            emit(progress, MapFailed(traceback.format_exc(limit=3)))
    return PipelineResult(p1, methods, gap)
