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
from .data._datasets import load_dataset
from .data._imagedata import ImageData
from .data._imbalance import make_imbalanced
from .data._subsample import snapshot_subsample
from .errors import Cancelled, ConfigError, EOSError
from .evaluation._compare import delta_vs
from .evaluation._head import predict_head, train_head
from .events import DataLoading, Embedding, EpochDone, MapFailed, MethodStarted, Progress, RunCreated, emit
from .gap._closure import synthetic_quality
from .gap._report import generalization_gap
from .maps._compute import compute_map
from .names import CONTROL_METHOD, HEADLINE, METHODS, method_name
from .phase1._augment import SPECS
from .phase1._device import choose_device
from .phase1._embeddings import compute_embeddings
from .phase1._estimate import record_phase1
from .phase1._models import build_model, resolve_model
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

@dataclass(frozen=True)
class _Phase1Run:
    """What the steps of one phase 1 read, and where they report."""

    cfg: RunConfig
    data: ImageData
    idx: np.ndarray                 # (N,) rows of data.x_train / y_train kept by the imbalance
    device: torch.device
    run_id: str | None
    store: RunStore | None
    progress: Progress | None
    cancel: threading.Event | None


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
    cfg.validate()
    emit(progress, DataLoading())
    data = load_dataset(cfg.data.dataset, data_dir, folder=cfg.data.folder, cancel=cancel)
    idx = make_imbalanced(data.y_train, cfg.data.ratio, cfg.data.profile, max_per_class=cfg.data.max_per_class,
                          class_order=cfg.data.class_order, num_classes=data.num_classes, seed=cfg.data.seed)
    run_id = store.create_run(cfg.to_dict(), kind="pipeline") if store is not None else None
    if run_id is not None:
        emit(progress, RunCreated(run_id))
    try:
        run = _Phase1Run(cfg=cfg, data=data, idx=idx, device=choose_device(cfg.train.device), run_id=run_id,
                         store=store, progress=progress, cancel=cancel)
        result = _phase1(run)
        _save_phase1(run, result, finalize=finalize)
        return result
    except BaseException as err:
        if store is not None and run_id is not None:
            _record_failure(store, run_id, err)
        raise


def _phase1(run: _Phase1Run) -> Phase1Result:
    """Train, embed, measure: the steps of phase 1 in order (nothing saved but the training history)."""
    data, c = run.data, run.data.num_classes
    x_tr, y_tr = data.x_train[run.idx], data.y_train[run.idx]
    train_counts = np.bincount(y_tr, minlength=c)
    model, info = _new_model(run, x_tr)
    history, phase1_s = _train(run, model, x_tr, y_tr)
    emb, embed_s = _embed(run, model, x_tr, y_tr)
    metrics, train_recall = _phase1_metrics(emb, train_counts, c)
    gap = _phase1_gap(emb, c, seed=run.cfg.train.seed, cancel=run.cancel)
    return Phase1Result(
        run_id=run.run_id, config=run.cfg, classes=list(data.classes), train_counts=train_counts.tolist(),
        test_counts=np.bincount(data.y_test, minlength=c).tolist(), train_idx=run.idx, history=history,
        embeddings=emb, metrics=metrics, train_recall=train_recall,
        timings={"phase1_s": phase1_s, "embed_s": embed_s}, gap=gap, head=_head_copy(model, c), model=model.cpu(),
        model_info=info,
    )


def _new_model(run: _Phase1Run, x_tr: np.ndarray) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The seeded, untrained model normalising by the channel statistics of ``x_tr`` (N, C, H, W), and its
    ``model_info`` (``"model"``: the model built, ``"auto"`` resolved)."""
    data, cfg = run.data, run.cfg
    mean, std = _channel_stats(x_tr)
    info = {"in_channels": data.channels, "image_size": data.image_size, "num_classes": data.num_classes,
            "mean": mean, "std": std,
            "model": resolve_model(cfg.train.model, device=run.device, in_channels=data.channels,
                                   image_size=data.image_size)}
    torch.manual_seed(cfg.train.seed)
    model = build_model(info["model"], in_channels=data.channels, num_classes=data.num_classes,
                        image_size=data.image_size, mean=mean, std=std)
    return model, info


def _train(run: _Phase1Run, model: torch.nn.Module, x_tr: np.ndarray,
           y_tr: np.ndarray) -> tuple[list[dict[str, Any]], float]:
    """Train ``model`` in place on ``x_tr`` (N, C, H, W), ``y_tr`` (N,); save and report every epoch.

    Returns the history (one ``EpochStats.to_dict()`` per epoch) and the seconds it took.
    """
    from .phase1._train import train_model  # deferred: the module imports scikit-learn

    cfg, data = run.cfg, run.data
    history: list[dict[str, Any]] = []

    def on_epoch(event: EpochDone) -> None:
        history.append(event.stats.to_dict())
        if run.store is not None:
            save_history(run.store, run.run_id, history)
        emit(run.progress, event)

    t0 = time.perf_counter()
    train_cfg = dataclasses.replace(cfg.train, augment=cfg.augment_enabled)  # the dataset default resolved
    train_model(model, x_tr, y_tr, data.x_test, data.y_test, train_cfg, num_classes=data.num_classes,
                device=run.device, augment=SPECS.get(data.name), progress=on_epoch, cancel=run.cancel,
                snapshot_idx=_snapshot_rows(run, y_tr))
    phase1_s = time.perf_counter() - t0
    # what this phase 1 took over its timed estimate calibrates the form's later estimates (no timing here)
    record_phase1(train_cfg, phase1_s, n_train=len(y_tr), channels=data.channels, image_size=data.image_size,
                  num_classes=data.num_classes, n_test=len(data.y_test))
    return history, phase1_s


def _snapshot_rows(run: _Phase1Run, y_tr: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The fixed (train rows, test rows) of the per-epoch gap snapshots, or None when they are off."""
    train = run.cfg.train
    if not train.gap_snapshots:
        return None
    return (snapshot_subsample(y_tr, train.snapshot_size, train.seed),
            snapshot_subsample(run.data.y_test, train.snapshot_size, train.seed))


def _embed(run: _Phase1Run, model: torch.nn.Module, x_tr: np.ndarray, y_tr: np.ndarray) -> tuple[Embeddings, float]:
    """Embeddings and logits of ``x_tr`` (N, C, H, W) and of the test set, and the seconds it took."""
    emit(run.progress, Embedding())
    t0 = time.perf_counter()
    tr_emb, tr_logits = compute_embeddings(model, x_tr, device=run.device, cancel=run.cancel)
    te_emb, te_logits = compute_embeddings(model, run.data.x_test, device=run.device, cancel=run.cancel)
    embed_s = time.perf_counter() - t0
    emb = Embeddings(tr_emb, tr_logits, y_tr.astype(np.int64), te_emb, te_logits, run.data.y_test.astype(np.int64))
    return emb, embed_s


def _phase1_metrics(emb: Embeddings, train_counts: np.ndarray,
                    num_classes: int) -> tuple[dict[str, Any], list[float | None]]:
    """The phase-1 head's test metrics (``classification_report_dict``) and its per-class training recall."""
    # deferred: the module imports scikit-learn and imbalanced-learn
    from .evaluation._metrics import classification_report_dict, finite_or_none, per_class_recall

    metrics = classification_report_dict(emb.test_y, emb.test_logits.argmax(1), num_classes,
                                         train_counts=train_counts)
    train_recall = finite_or_none(per_class_recall(emb.train_y, emb.train_logits.argmax(1), num_classes))
    return metrics, train_recall


def _phase1_gap(emb: Embeddings, num_classes: int, *, seed: int, cancel: threading.Event | None) -> dict[str, Any]:
    """The per-class generalization gap in the phase-1 embedding space (``GapReport.to_dict()``)."""
    return generalization_gap(emb.train_emb, emb.train_y, emb.test_emb, emb.test_y, num_classes=num_classes,
                              train_pred=emb.train_logits.argmax(1), test_pred=emb.test_logits.argmax(1), seed=seed,
                              cancel=cancel).to_dict()


def _head_copy(model: torch.nn.Module, num_classes: int) -> torch.nn.Linear:
    """A CPU copy of the trained model's classifier head (D -> C)."""
    head = torch.nn.Linear(model.head.in_features, num_classes)
    head.load_state_dict(model.head.state_dict())
    return head.cpu()


def _save_phase1(run: _Phase1Run, result: Phase1Result, *, finalize: bool) -> None:
    """Save phase 1's artifacts and headline; finish the run, or leave it running for phase 3."""
    if run.store is None:
        return
    save_phase1(run.store, result)
    headline = {"phase1": _headline(result.metrics)}
    if finalize:
        run.store.finish_run(run.run_id, metrics=headline, timings=result.timings)
    else:
        run.store.update_run(run.run_id, metrics=headline, timings=result.timings)


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in HEADLINE}


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
    e = phase1.embeddings
    t0 = time.perf_counter()
    if name == "none":
        x_syn, y_syn, prov = np.zeros((0, e.train_emb.shape[1]), np.float32), np.zeros(0, np.int64), None
        notes: list[str] = []
        head = phase1.head
        resample_s = 0.0
    else:
        x_syn, y_syn, prov, notes = _resample_with_notes(phase1, cfg, name)
        resample_s = time.perf_counter() - t0
        head = _retrain_head(phase1, cfg, x_syn, y_syn, device=device, cancel=cancel)
    seconds = time.perf_counter() - t0
    metrics = _test_metrics(phase1, head, device=device)
    quality = synthetic_quality(e.train_emb, e.train_y, x_syn, y_syn, e.test_emb, e.test_y,
                                num_classes=phase1.num_classes, provenance=prov)
    metrics.update(_closure_json(quality))
    metrics["warnings"] = notes
    metrics["enemy_share"] = quality["enemy_share"]
    metrics["resample_s"] = resample_s
    metrics["head_s"] = seconds - resample_s
    metrics["partner_share"] = quality["partner_share"]
    return MethodResult(name, metrics, int(len(x_syn)), seconds, x_syn.astype(np.float32), y_syn.astype(np.int64),
                        prov, head)


def _resample_with_notes(phase1: Phase1Result, cfg: RunConfig,
                         name: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray] | None, list[str]]:
    """``resample`` of the phase-1 training embeddings with ``cfg``'s k and head seed, and the notes to show
    beside the method's results (:func:`_resample_notes`)."""
    from .oversampling._resample import resample  # deferred: the module imports imbalanced-learn

    e = phase1.embeddings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x_syn, y_syn, prov = resample(name, e.train_emb, e.train_y, k_neighbors=cfg.k_neighbors,
                                      random_state=cfg.head.seed)
    return x_syn, y_syn, prov, _resample_notes(name, caught, e.train_y, y_syn, phase1.classes)


def _retrain_head(phase1: Phase1Result, cfg: RunConfig, x_syn: np.ndarray, y_syn: np.ndarray, *,
                  device: str | torch.device, cancel: threading.Event | None) -> torch.nn.Linear:
    """A head trained (``cfg.head``) on the real training embeddings plus the synthetic rows (S, D), (S,)."""
    e = phase1.embeddings
    x_bal = np.concatenate([e.train_emb, x_syn]) if len(x_syn) else e.train_emb
    y_bal = np.concatenate([e.train_y, y_syn]) if len(y_syn) else e.train_y
    return train_head(x_bal, y_bal, cfg.head, num_classes=phase1.num_classes,
                      init=phase1.head if cfg.head.init_from_phase1 else None, device=device, cancel=cancel)


def _test_metrics(phase1: Phase1Result, head: torch.nn.Linear, *, device: str | torch.device) -> dict[str, Any]:
    """The head's metrics on the test embeddings (``classification_report_dict``)."""
    # deferred: the module imports scikit-learn and imbalanced-learn
    from .evaluation._metrics import classification_report_dict

    e = phase1.embeddings
    pred, _ = predict_head(head, e.test_emb, device=device)
    return classification_report_dict(e.test_y, pred, phase1.num_classes, train_counts=phase1.train_counts)


def _closure_json(quality: dict[str, Any]) -> dict[str, Any]:
    """The per-class closure figures of :func:`synthetic_quality`, JSON-ready (NaN as None)."""
    from .evaluation._metrics import finite_or_none  # deferred: the module imports scikit-learn and imbalanced-learn

    out = {key: finite_or_none(quality[key]) for key in ("nn_gap_closed", "nn1_recall", "nn1_recall_change")}
    out["nn_gap_closed_note"] = quality["nn_gap_closed_note"]
    return out


def _resample_notes(name: str, caught: list, train_y: np.ndarray, y_syn: np.ndarray,
                    classes: list[str]) -> list[str]:
    """One-line notes a user should see beside a method's results (and on stderr, as before).

    The oversamplers' own warnings (e.g. ADASYN skipping a class) plus one note per class that
    should have been filled to the largest class's size but received no synthetic point at all
    (Borderline-SMOTE does this silently for a class without "danger" points).
    """
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
    names = list(dict.fromkeys(methods if methods is not None else cfg.methods))
    bad = [m for m in names if m not in METHODS]
    if bad:
        raise ConfigError(f"Unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}.")
    if names and CONTROL_METHOD not in names:
        names.insert(1 if names[0] == "none" else 0, CONTROL_METHOD)
    order = [CONTROL_METHOD] + [m for m in names if m != CONTROL_METHOD] if names else []
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
        try:
            compute_map(store, p1.run_id, p1=p1, progress=progress, cancel=cancel)
        except Exception:  # noqa: BLE001 - the run is complete without its map
            emit(progress, MapFailed(traceback.format_exc(limit=3)))
    return PipelineResult(p1, methods, gap)
