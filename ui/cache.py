"""Store and data wrappers with Streamlit caches: the run store, datasets, run lists and a run's
saved results, read through the engine's one reader (``eos_core.store._results``, torch-free).

``st.cache_resource`` holds objects (the store, datasets, loaded runs), ``st.cache_data`` small
derived tables. Heavy engine modules (torch, umap) are imported inside functions, never at import
time, so the first page shows quickly. Loaded runs are cached per run *version* (the index row's
``updated`` time), so a run that gains a method or finishes is re-read.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import streamlit as st

from eos_core.errors import DamagedRun, EOSError
from eos_core.store import atomic_write_bytes


def runs_root() -> str:
    """The run-store folder: ``$EOS_RUNS_DIR`` or the engine's per-user default."""
    from eos_core.store import default_runs_dir

    return str(default_runs_dir())


def data_dir() -> str | None:
    return os.environ.get("EOS_DATA_DIR") or None


@st.cache_resource(show_spinner=False)
def store_for(root: str):
    return plain_store(root)


_PLAIN_STORES: dict[str, Any] = {}
_PLAIN_LOCK = threading.Lock()


def plain_store(root: str):
    """The store for worker threads (no Streamlit cache call outside a script run)."""
    from eos_core.store import RunStore

    with _PLAIN_LOCK:
        if root not in _PLAIN_STORES:
            _PLAIN_STORES[root] = RunStore(root)
        return _PLAIN_STORES[root]


def get_store():
    """The run store for the current ``EOS_RUNS_DIR`` (one instance per folder per process)."""
    return store_for(runs_root())


@st.cache_resource(max_entries=4, show_spinner="Loading the dataset…")
def _dataset(name: str, folder: str | None, data_root: str | None):
    from eos_core.data import load_dataset

    return load_dataset(name, data_root, folder=folder)


def load_data(name: str, folder: str | None = None):
    """The dataset as an ``ImageData`` (cached per process). Raises ``DatasetUnavailable``."""
    return _dataset(name, folder, data_dir())


@st.cache_data(max_entries=16, show_spinner="Reading the dataset's class sizes…")
def dataset_counts(name: str, folder: str | None, data_root: str | None) -> dict[str, Any]:
    """Class names and per-class train/test counts of the full dataset.

    Kept on disk (``<runs>/.cache/dataset_counts.json``) for the standard datasets, so a fresh
    server draws the first page's chart without loading the dataset (sklearn alone takes seconds).
    """
    cache = Path(runs_root()) / ".cache" / "dataset_counts.json"
    key = json.dumps([name, folder, data_root])
    saved: dict = {}
    if folder is None:
        try:
            saved = json.loads(cache.read_text())
            if key in saved:
                return saved[key]
        except (OSError, ValueError):
            saved = {}
    d = _dataset(name, folder, data_root)
    info = {"classes": list(d.classes), "train": d.train_counts().tolist(), "test": d.test_counts().tolist(),
            "channels": d.channels, "image_size": d.image_size}
    if folder is None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(cache, json.dumps({**saved, key: info}).encode())
        except OSError:
            pass
    return info


def data_for_run(cfg: dict) -> Any:
    """The dataset a run was trained on (for thumbnails)."""
    data = cfg.get("data", {})
    return load_data(data.get("dataset", "digits"), data.get("folder"))

def list_runs(*, need: str | None = None) -> list:
    """Runs of the store, newest first. ``need="embeddings"`` / ``"methods"``: only runs that
    have that artifact (phase 1 done / phases 2–3 done)."""
    store = get_store()
    runs = store.list_runs()
    if need:
        runs = [r for r in runs if has(store, r.id, need)]
    return runs


def has(store, run_id: str, name: str) -> bool:
    try:
        suffix = ".npz" if name.startswith(("embeddings", "projection", "synthetic")) else ".json"
        return store.has(run_id, name, suffix)
    except EOSError:
        return False


def run_label(rec) -> str:
    """One line describing a run: dataset, ratio, loss, seed, status, date."""
    cfg = rec.config or {}
    d, t = cfg.get("data", {}), cfg.get("train", {})
    when = time.strftime("%m-%d %H:%M", time.localtime(rec.created))
    methods = cfg.get("methods") or []
    return (f"{dataset_label(d)} · ρ={fmt_ratio(d.get('ratio'))} {d.get('profile', '')} · "
            f"{t.get('loss', '?')} · {t.get('epochs', '?')} ep · seed {t.get('seed', 0)} · "
            f"{len(methods)} method{'s' if len(methods) != 1 else ''} · {rec.status} · {when}")


def dataset_label(d: dict) -> str:
    """A run's dataset in labels: the id for built-in sets, the stored name for a user's images
    ("cifar10-jpeg (zip)"), never an upload folder's hash."""
    from eos_core.data import data_display_name

    return data_display_name(d) if d.get("dataset") == "folder" else str(d.get("dataset", "?"))


def fmt_ratio(r: Any) -> str:
    try:
        return f"{float(r):g}"
    except (TypeError, ValueError):
        return "?"


def version(store, run_id: str) -> float:
    """Changes whenever the run's record changes (status / metrics / method added)."""
    try:
        return store.get_run(run_id).updated
    except EOSError:
        return 0.0


@st.cache_resource(max_entries=6, show_spinner="Loading the run…")
def phase1_cached(root: str, run_id: str, version: float):
    """``eos_core.store.load_phase1`` (torch-free: no head, no model), cached per run version."""
    from eos_core.store import load_phase1

    return load_phase1(store_for(root), run_id)


def load_phase1(run_id: str):
    """The run's phase 1 (an ``eos_core.store.Phase1Result``: embeddings, counts, history, gap)."""
    store = get_store()
    return phase1_cached(runs_root(), run_id, version(store, run_id))


def _summary(reader: str, run_id: str, root: str | None = None) -> dict:
    """An ``eos_core.store._results`` summary reader's dict, empty when the run lacks it (phase 1 not
    finished); a damaged file raises its ``DamagedRun``, so a page never mistakes damage for
    absence ("no phase-3 results yet" for a finished run)."""
    from eos_core.store import _results as results

    try:
        return getattr(results, reader)(store_for(root or runs_root()), run_id)
    except DamagedRun:
        raise
    except EOSError:
        return {}


def damaged_runs() -> dict[str, str]:
    """Run id -> the one sentence saying why it cannot be read, for the runs the last listing skipped."""
    return dict(get_store().damaged)


def methods_summary(run_id: str, root: str | None = None) -> dict:
    """``methods.json`` of a run (method -> metrics), via ``eos_core.store._results``; {} when absent."""
    return _summary("load_method_summary", run_id, root)


def phase1_summary(run_id: str) -> dict:
    """``phase1.json`` of a run (classes, counts, metrics, train recall), checked; {} when absent."""
    return _summary("load_phase1_summary", run_id)


def gap_report(run_id: str) -> dict:
    """``gap.json`` of a run; {} when absent."""
    return _summary("load_gap", run_id)


def config_of(rec_or_p1) -> dict:
    cfg = getattr(rec_or_p1, "config", rec_or_p1)
    if dataclasses.is_dataclass(cfg):
        return cfg.to_dict() if hasattr(cfg, "to_dict") else dataclasses.asdict(cfg)
    return dict(cfg or {})



def run_seed(p1) -> int:
    """The phase-3 seed of a loaded run: phase 2 draws with ``head.seed`` (equal to the run's one
    seed for runs the app and the CLI make), so re-sampling at another k draws as the run did."""
    return int(getattr(getattr(p1.config, "head", None), "seed", 0) or 0)


# ---------------------------------------------------------------------------------------------
# runs that differ only by seed (page 4)

SEED_PATHS = (("data", "seed"), ("train", "seed"), ("head", "seed"))


def config_signature(cfg: dict) -> str:
    """The config with seeds, device and method list removed: runs with equal signatures differ
    only by seed."""
    c = copy.deepcopy(cfg or {})
    for a, b in SEED_PATHS:
        c.get(a, {}).pop(b, None)
    c.get("train", {}).pop("device", None)
    c.pop("methods", None)
    return json.dumps(c, sort_keys=True, default=str)


def same_config_runs(rec) -> list:
    """Runs (with phase-3 results) whose config equals ``rec``'s up to the seeds, ``rec`` first."""
    sig = config_signature(rec.config)
    out = [rec]
    for r in list_runs(need="methods"):
        if r.id != rec.id and config_signature(r.config) == sig:
            out.append(r)
    return out


@st.cache_data(max_entries=64, show_spinner="Timing a few training steps on this machine…")
def phase1_estimate(train_cfg: dict, n_train: int, channels: int, image_size: int, num_classes: int,
                    n_test: int = 0):
    """``eos_core.phase1.estimate_phase1`` for a form's TrainConfig dict (the engine also caches the
    measured step time per model, device and image shape on disk)."""
    from eos_core.config import TrainConfig
    from eos_core.phase1 import estimate_phase1

    return estimate_phase1(TrainConfig.from_dict(train_cfg), n_train=n_train, channels=channels,
                           image_size=image_size, num_classes=num_classes, n_test=n_test)
