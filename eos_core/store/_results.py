"""The saved-run format: the one reader and writer of a run's artifacts.

The pipeline writes through the ``save_*`` functions, the CLI, the app and plain Python read
through the ``load_*`` ones; nothing else parses a run folder. Reading is torch-free: heads and
the phase-1 model are loaded (and torch imported) only when asked for. Every file goes through the
:class:`~eos_core.store.RunStore` (and so the one atomic writer, :mod:`eos_core.store._atomic`).

A missing or unparsable file raises the store's :class:`~eos_core.errors.DamagedRun`; so does a
file that parses but has the wrong types or shape (a key missing, a list of the wrong length, NaN
embeddings; checks in :mod:`eos_core.store._results_check`), with one sentence naming the run, the file and
the repair command.

Artifacts (see ARCHITECTURE.md): ``phase1.json``, ``embeddings.npz``, ``history.json``,
``gap.json``, ``model.pt``, ``head_phase1.pt``, ``methods.json``, ``synthetic_<m>.npz``,
``head_<m>.pt``, ``projection_umap.npz`` + ``projection_umap_rows.npz`` (the map).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import RunConfig
from ..errors import DamagedRun, EOSError
from ..maps._projection import Projection
from ..names import METHODS
from ._check import damaged_run, json_kind
from ._results_check import (
    embeddings_problem,
    gap_problem,
    history_problem,
    method_problem,
    phase1_problem,
    synthetic_problem,
)
from ._store import RunStore

__all__ = [
    "Embeddings", "Phase1Result", "MethodResult", "MapArrays", "MAP_NAME", "MAP_ROWS_NAME",
    "save_phase1", "save_history", "save_method", "save_map", "synthetic_arrays", "load_synthetic",
    "load_phase1", "load_history", "load_gap", "load_phase1_summary", "load_method_summary", "load_methods",
    "load_head", "load_map", "has_phase1", "has_map",
]

MAP_NAME = "projection_umap"            # the map (a saved eos_core.maps.Projection)
MAP_ROWS_NAME = "projection_umap_rows"  # rows of each synthetic set placed in the map
_EMBEDDING_KEYS = ("train_emb", "train_logits", "train_y", "train_idx", "test_emb", "test_logits", "test_y")
_PROV_KEYS = ("base", "partner", "r")


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
    """Everything phase 1 produced. Loaded from the store, ``head`` (a ``torch.nn.Linear``) and
    ``model`` are None unless asked for."""

    run_id: str | None
    config: RunConfig
    classes: list[str]
    train_counts: list[int]
    test_counts: list[int]
    train_idx: np.ndarray      # (N,) rows of the dataset's training set
    history: list[dict[str, Any]]
    embeddings: Embeddings
    metrics: dict[str, Any]
    train_recall: list[float]
    timings: dict[str, float]
    gap: dict[str, Any]
    head: Any = None           # torch.nn.Linear (D -> C)
    model: Any = None          # torch.nn.Module
    model_info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass
class MethodResult:
    """Phases 2–3 for one oversampler; ``head`` is None when loaded without heads."""

    name: str
    metrics: dict[str, Any]
    n_synthetic: int
    seconds: float
    X_syn: np.ndarray            # (S, D) float32
    y_syn: np.ndarray            # (S,) int64
    provenance: dict[str, np.ndarray] | None  # base, partner (S,) int64 rows of train_emb; r (S,) float32
    head: Any = None             # torch.nn.Linear


@dataclass
class MapArrays:
    """A run's saved 2-D map.

    Attributes
    ----------
    method : str
        ``"umap"`` (or ``"pca"``).
    train : np.ndarray, (N, 2) float32
        One point per training embedding, in ``embeddings.npz`` row order.
    test : np.ndarray, (M, 2) float32
        One point per test embedding.
    synthetic : dict[str, np.ndarray]
        Method -> (S_m, 2) float32 coordinates of the placed synthetic points.
    synthetic_rows : dict[str, np.ndarray]
        Method -> (S_m,) int64 rows of ``synthetic_<m>.npz`` that ``synthetic[m]`` places (a seeded
        sample; every row, ``arange``, for maps saved before sampling).
    fit_rows : np.ndarray, (F,) int64
        Training rows the map was fitted on (the others were placed by ``transform``).
    params : dict
        Fitting parameters and ``seconds``.
    """

    method: str
    train: np.ndarray
    test: np.ndarray
    synthetic: dict[str, np.ndarray]
    synthetic_rows: dict[str, np.ndarray]
    fit_rows: np.ndarray
    params: dict[str, Any]


def _damaged(run_id: str, name: str, what: str) -> DamagedRun:
    return damaged_run(run_id, name, what)


def _json(store: RunStore, run_id: str, name: str, kind: type, default: Any = None) -> Any:
    """``<name>.json`` checked to be a ``kind``; ``default`` when absent (None: absence is damage)."""
    if default is not None and not store.has(run_id, name, ".json"):
        return default
    obj = store.load_json(run_id, name)
    if not isinstance(obj, kind):
        want = "an object" if kind is dict else "a list"
        raise _damaged(run_id, f"{name}.json", f"it holds {json_kind(obj)} where {want} belongs")
    return obj


# --------------------------------------------------------------------------- phase 1

def save_history(store: RunStore, run_id: str, history: list[dict[str, Any]]) -> None:
    """``history.json``: one row per phase-1 epoch (:class:`eos_core.events.EpochStats` as a dict)."""
    store.save_json(run_id, "history", history)


def save_phase1(store: RunStore, r: Phase1Result) -> None:
    """Model, phase-1 head, embeddings, gap report, then ``phase1.json`` (last: it marks a complete phase 1)."""
    e, rid = r.embeddings, r.run_id
    store.save_state_dict(rid, "model", r.model.state_dict())
    store.save_state_dict(rid, "head_phase1", r.head.state_dict())
    store.save_arrays(rid, "embeddings", train_emb=e.train_emb, train_logits=e.train_logits, train_y=e.train_y,
                      train_idx=r.train_idx, test_emb=e.test_emb, test_logits=e.test_logits, test_y=e.test_y)
    store.save_json(rid, "gap", r.gap)
    store.save_json(rid, "phase1", {
        "classes": r.classes, "train_counts": r.train_counts, "test_counts": r.test_counts,
        "metrics": r.metrics, "train_recall": r.train_recall, "timings": r.timings, "model_info": r.model_info,
    })


def has_phase1(store: RunStore, run_id: str) -> bool:
    """Whether the run's phase 1 is complete (``phase1.json`` exists)."""
    return store.has(run_id, "phase1", ".json")


def load_phase1_summary(store: RunStore, run_id: str) -> dict[str, Any]:
    """``phase1.json`` checked: ``classes``, ``train_counts``, ``test_counts`` (C each) and the dicts
    ``metrics``, ``timings``, ``model_info`` (empty when absent), ``train_recall`` (list)."""
    if not has_phase1(store, run_id):
        raise EOSError(f"Run {run_id} has no finished phase 1 (status: {store.get_run(run_id).status}).")
    meta = _json(store, run_id, "phase1", dict)
    classes = meta.get("classes")
    if not isinstance(classes, list) or not classes:
        raise _damaged(run_id, "phase1.json", "no class list")
    for key in ("train_counts", "test_counts"):
        if not isinstance(meta.get(key), list) or len(meta[key]) != len(classes):
            raise _damaged(run_id, "phase1.json", f"{key} is not a list of {len(classes)} counts")
    out = {"classes": [str(c) for c in classes], "train_counts": list(meta["train_counts"]),
           "test_counts": list(meta["test_counts"])}
    for key, kind in (("metrics", dict), ("timings", dict), ("model_info", dict), ("train_recall", list)):
        value = meta.get(key, kind())
        if not isinstance(value, kind):
            raise _damaged(run_id, "phase1.json", f"{key} is not a {kind.__name__}")
        out[key] = value
    if problem := phase1_problem(out):
        raise _damaged(run_id, "phase1.json", problem)
    return out


def load_history(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    """``history.json`` (a list of epoch rows; empty when absent)."""
    history = _json(store, run_id, "history", list, [])
    if problem := history_problem(history):
        raise _damaged(run_id, "history.json", problem)
    return history


def load_gap(store: RunStore, run_id: str) -> dict[str, Any]:
    """``gap.json`` (the :class:`eos_core.gap.GapReport` dict; empty when absent)."""
    gap = _json(store, run_id, "gap", dict, {})
    if problem := gap_problem(gap):
        raise _damaged(run_id, "gap.json", problem)
    return gap


def load_phase1(store: RunStore, run_id: str, *, with_head: bool = False, with_model: bool = False) -> Phase1Result:
    """Re-open a saved phase 1 (no recomputation; torch-free unless a head or the model is asked for).

    Raises ``UnknownRun``, ``EOSError`` (phase 1 not finished) or ``DamagedRun``.
    """
    rec = store.get_run(run_id)
    meta = load_phase1_summary(store, run_id)
    arr = store.load_arrays(run_id, "embeddings")
    missing = [k for k in _EMBEDDING_KEYS if k not in arr]
    if missing:
        raise _damaged(run_id, "embeddings.npz", f"no {', '.join(missing)}")
    if problem := embeddings_problem(arr, len(meta["classes"])):
        raise _damaged(run_id, "embeddings.npz", problem)
    emb = Embeddings(*(arr[k] for k in ("train_emb", "train_logits", "train_y", "test_emb", "test_logits", "test_y")))
    try:
        cfg = RunConfig.from_dict(rec.config)
    except (TypeError, ValueError, AttributeError) as err:
        raise _damaged(run_id, "config.json", str(err).splitlines()[0][:120] or type(err).__name__) from None
    r = Phase1Result(
        run_id=run_id, config=cfg, classes=meta["classes"], train_counts=meta["train_counts"],
        test_counts=meta["test_counts"], train_idx=arr["train_idx"], history=load_history(store, run_id),
        embeddings=emb, metrics=meta["metrics"], train_recall=meta["train_recall"], timings=meta["timings"],
        gap=load_gap(store, run_id), model_info=meta["model_info"],
    )
    if with_head or with_model:
        r.head = load_head(store, run_id, "phase1")
    if with_model:
        from ..phase1._models import build_model  # deferred: imports torch, which loads in seconds

        info = r.model_info
        name = info.get("model", cfg.train.model)
        if name == "auto":  # runs saved before "auto" was resolved and saved: auto meant ResNet-32 for colour 32 px
            name = "resnet32" if info["in_channels"] == 3 and info["image_size"] >= 32 else "small_cnn"
        model = build_model(name, in_channels=info["in_channels"], num_classes=r.num_classes,
                            image_size=info["image_size"], mean=info["mean"], std=info["std"])
        model.load_state_dict(store.load_state_dict(run_id, "model"))
        r.model = model.eval()
    return r


def load_head(store: RunStore, run_id: str, name: str) -> Any:
    """The linear head ``head_<name>.pt`` (``"phase1"`` or a method id) as a ``torch.nn.Linear`` (imports torch)."""
    import torch  # deferred: torch loads in seconds; reading a run's JSON and arrays needs none

    sd = store.load_state_dict(run_id, f"head_{name}")
    if "weight" not in sd or getattr(sd["weight"], "ndim", 0) != 2:
        raise _damaged(run_id, f"head_{name}.pt", "no 2-D weight")
    head = torch.nn.Linear(sd["weight"].shape[1], sd["weight"].shape[0])
    head.load_state_dict(sd)
    return head.eval()


# --------------------------------------------------------------------------- phases 2-3

def synthetic_arrays(x_syn: np.ndarray, y_syn: np.ndarray, provenance: dict | None) -> dict[str, np.ndarray]:
    """The arrays of ``synthetic_<m>.npz``: ``X_syn`` (S, D), ``y_syn`` (S,), ``base``, ``partner``
    (S,) int64 and ``r`` (S,) float32 — the last three empty without provenance."""
    prov = provenance or {}
    return {"X_syn": np.asarray(x_syn), "y_syn": np.asarray(y_syn),
            "base": np.asarray(prov.get("base", np.zeros(0, np.int64))),
            "partner": np.asarray(prov.get("partner", np.zeros(0, np.int64))),
            "r": np.asarray(prov.get("r", np.zeros(0, np.float32)))}


def load_synthetic(store: RunStore, run_id: str, method: str) -> dict[str, np.ndarray]:
    """``synthetic_<method>.npz`` as :func:`synthetic_arrays` describes it."""
    arr = store.load_arrays(run_id, f"synthetic_{method}")
    if not {"X_syn", "y_syn", *_PROV_KEYS} <= set(arr):
        raise _damaged(run_id, f"synthetic_{method}.npz", "X_syn, y_syn or provenance missing")
    if problem := synthetic_problem(arr):
        raise _damaged(run_id, f"synthetic_{method}.npz", problem)
    return arr


def save_method(store: RunStore, run_id: str, res: MethodResult) -> None:
    """``synthetic_<m>.npz``, ``head_<m>.pt`` and the method's entry of ``methods.json`` (display order)."""
    store.save_arrays(run_id, f"synthetic_{res.name}", **synthetic_arrays(res.X_syn, res.y_syn, res.provenance))
    if res.head is not None:
        store.save_state_dict(run_id, f"head_{res.name}", res.head.state_dict())
    done = load_method_summary(store, run_id)
    done[res.name] = {**res.metrics, "n_synthetic": res.n_synthetic, "seconds": res.seconds}
    # display order (the control runs first but is listed after "none")
    rank = {m: i for i, m in enumerate(METHODS)}
    store.save_json(run_id, "methods", {m: done[m] for m in sorted(done, key=lambda m: rank.get(m, len(rank)))})


def load_method_summary(store: RunStore, run_id: str) -> dict[str, dict[str, Any]]:
    """``methods.json``: method -> metrics with ``n_synthetic`` and ``seconds`` (empty when absent)."""
    summary = _json(store, run_id, "methods", dict, {})
    for name, m in summary.items():
        if problem := method_problem(name, m):
            raise _damaged(run_id, "methods.json", problem)
    return summary


def load_methods(store: RunStore, run_id: str, *, with_heads: bool = False) -> dict[str, MethodResult]:
    """Saved phase-3 results of a run (synthetic points, provenance; heads only when asked for)."""
    out: dict[str, MethodResult] = {}
    for name, m in load_method_summary(store, run_id).items():
        arr = load_synthetic(store, run_id, name)
        prov = {k: arr[k] for k in _PROV_KEYS} if len(arr["base"]) else None
        head = load_head(store, run_id, name) if with_heads and store.has(run_id, f"head_{name}", ".pt") else None
        metrics = {k: v for k, v in m.items() if k not in ("n_synthetic", "seconds")}
        out[name] = MethodResult(name, metrics, int(m["n_synthetic"]), float(m["seconds"]), arr["X_syn"],
                                 arr["y_syn"], prov, head)
    return out


# --------------------------------------------------------------------------- the map

def save_map(store: RunStore, run_id: str, proj: Projection, synthetic_rows: dict[str, np.ndarray]) -> None:
    """Save a :class:`eos_core.maps.Projection` (extra sets ``test`` and ``synthetic_<m>``) as the
    run's map, with the rows of each synthetic set it placed. The rows go first: the map file's
    presence marks a complete map."""
    store.save_arrays(run_id, MAP_ROWS_NAME, **{f"synthetic_{m}": np.asarray(r, np.int64)
                                               for m, r in synthetic_rows.items()})
    store.save_arrays(run_id, MAP_NAME, **proj.to_arrays())


def has_map(store: RunStore, run_id: str) -> bool:
    return store.has(run_id, MAP_NAME, ".npz")


def load_map(store: RunStore, run_id: str) -> MapArrays | None:
    """The run's saved map, or None when the run has none yet. Raises ``DamagedRun``."""
    if not has_map(store, run_id):
        return None
    try:
        proj = Projection.from_arrays(store.load_arrays(run_id, MAP_NAME))
    except EOSError as err:
        raise _damaged(run_id, f"{MAP_NAME}.npz", "not a saved map") from err
    rows = store.load_arrays(run_id, MAP_ROWS_NAME) if store.has(run_id, MAP_ROWS_NAME, ".npz") else {}
    synthetic = {k[len("synthetic_"):]: xy for k, xy in proj.extra_xy.items() if k.startswith("synthetic_")}
    placed = {m: np.asarray(rows.get(f"synthetic_{m}", np.arange(len(xy))), np.int64) for m, xy in synthetic.items()}
    for m, r in placed.items():
        if len(r) != len(synthetic[m]):
            raise _damaged(run_id, f"{MAP_ROWS_NAME}.npz", f"{len(r)} rows for {len(synthetic[m])} points of {m}")
    if "test" not in proj.extra_xy:
        raise _damaged(run_id, f"{MAP_NAME}.npz", "no test points")
    return MapArrays(method=proj.method, train=proj.train_xy, test=proj.extra_xy["test"], synthetic=synthetic,
                     synthetic_rows=placed, fit_rows=proj.fit_idx, params={**proj.params, "seconds": proj.seconds})
