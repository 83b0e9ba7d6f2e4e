"""The one app-side module: caches, session keys, run selection and background jobs.

Everything Streamlit-specific that pages share lives here, so pages stay thin scripts.

* **Caches** — ``st.cache_resource`` for objects (the run store, datasets, loaded runs, the job
  registry), ``st.cache_data`` for small derived tables. Heavy engine modules (torch, umap) are
  imported inside functions, never at import time, so the first page shows quickly.
* **Run selection** — ``st.session_state[RUN_KEY]`` mirrored in ``st.query_params["run"]``: a run
  chosen on one page stays chosen on the others and survives a reload.
* **Jobs** — a process-wide :class:`JobManager` (``st.cache_resource``) runs long work in threads.
  A browser session only knows the job ids it started (``st.session_state[JOBS_KEY]`` and
  ``st.query_params["job"]``, so a reload re-attaches); ids are random, so two sessions never see
  each other's jobs. Finished runs land in the run store, which every session can list.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import streamlit as st

from eos_core.errors import Cancelled, EOSError

RUN_KEY = "eos_run_id"
JOBS_KEY = "eos_job_ids"
JOB_ID_RE = re.compile(r"^[0-9a-f]{16}$")
RUN_ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")

DATASET_LABELS = {
    "digits": "digits (8×8, bundled — works offline)",
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "svhn": "SVHN",
    "folder": "my images (.zip upload)",
}
METHOD_LABELS = {
    "none": "none (phase-1 head, baseline)",
    "ros": "random over-sampling",
    "smote": "SMOTE",
    "bsmote": "Borderline-SMOTE",
    "adasyn": "ADASYN",
    "eos": "EOS (expansive over-sampling)",
}


# =============================================================================================
# store and data


def runs_root() -> str:
    """The run-store folder: ``$EOS_RUNS_DIR`` or the engine's per-user default."""
    from eos_core.store import default_runs_dir

    return str(default_runs_dir())


def data_dir() -> str | None:
    return os.environ.get("EOS_DATA_DIR") or None


@st.cache_resource(show_spinner=False)
def _store(root: str):
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
    return _store(runs_root())


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
    import json

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
            tmp = cache.with_name(f".{cache.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps({**saved, key: info}))
            os.replace(tmp, cache)
        except OSError:
            pass
    return info


def data_for_run(cfg: dict) -> Any:
    """The dataset a run was trained on (for thumbnails)."""
    data = cfg.get("data", {})
    return load_data(data.get("dataset", "digits"), data.get("folder"))


# =============================================================================================
# runs


def list_runs(*, need: str | None = None) -> list:
    """Runs of the store, newest first. ``need="embeddings"`` / ``"methods"``: only runs that
    have that artifact (phase 1 done / phases 2–3 done)."""
    store = get_store()
    runs = store.list_runs()
    if need:
        runs = [r for r in runs if _has(store, r.id, need)]
    return runs


def _has(store, run_id: str, name: str) -> bool:
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
    return (f"{d.get('dataset', '?')} · ρ={_fmt_ratio(d.get('ratio'))} {d.get('profile', '')} · "
            f"{t.get('loss', '?')} · {t.get('epochs', '?')} ep · seed {t.get('seed', 0)} · "
            f"{len(methods)} method{'s' if len(methods) != 1 else ''} · {rec.status} · {when}")


def _fmt_ratio(r: Any) -> str:
    try:
        return f"{float(r):g}"
    except (TypeError, ValueError):
        return "?"


def ensure_router() -> None:
    """Hand a page script run without ``app.py`` over to the router (call it first on every page).

    Streamlit 1.67 keeps a relic of its first multipage mode: while a ``pages/`` folder sits beside
    the main script and no public ``st.navigation()`` call has run yet in this process
    (``PagesManager.uses_pages_directory``, a class flag set when the first session opens; the
    test harness resets it before every ``AppTest.run``), the script runner builds its own
    navigation from the file names (``pages/2_gap.py`` -> ``/gap``) and runs the requested page
    script *alone* — without ``app.py``'s page config, sidebar and session sync. That happens for
    a deep link (``/gap``) that is the first request after a server start. The page files are named
    after the router's ``url_path`` so that legacy lookup finds the page (no "Page not found"
    dialog); this guard then turns the legacy mode off and runs ``app.py`` in this same script run:
    its ``st.navigation`` resolves the same page (page hashes are ``calc_hash(url_path)`` in both
    modes) and draws it with the page config and sidebar. Running it inline rather than calling
    ``st.rerun()`` keeps the run's widget triggers (a button click would be lost by a rerun)."""
    import runpy

    from streamlit.runtime.pages_manager import PagesManager

    if not PagesManager.uses_pages_directory:
        return
    PagesManager.uses_pages_directory = False
    runpy.run_path(str(Path(__file__).resolve().with_name("app.py")), run_name="__main__")
    st.stop()  # the page was drawn by the router: skip the rest of this outer run of it


def sync_session() -> None:
    """Restore the run / job ids from the URL into the session (after a reload) and write the
    session's choices back into the URL (page switches drop query parameters)."""
    ss = st.session_state
    if RUN_KEY not in ss:
        q = st.query_params.get("run")
        ss[RUN_KEY] = q if isinstance(q, str) and RUN_ID_RE.match(q) else None
    if JOBS_KEY not in ss:
        q = st.query_params.get("job")
        ss[JOBS_KEY] = [q] if isinstance(q, str) and JOB_ID_RE.match(q) and jobs().get(q) else []
    _write_query_params()


def _write_query_params() -> None:
    ss = st.session_state
    want = {}
    if ss.get(RUN_KEY):
        want["run"] = ss[RUN_KEY]
    if ss.get(JOBS_KEY):
        want["job"] = ss[JOBS_KEY][-1]
    for k in ("run", "job"):
        if k in want:
            if st.query_params.get(k) != want[k]:
                st.query_params[k] = want[k]
        elif k in st.query_params:
            del st.query_params[k]


def current_run_id() -> str | None:
    sync_session()
    return st.session_state.get(RUN_KEY)


def set_run(run_id: str | None) -> None:
    st.session_state[RUN_KEY] = run_id
    _write_query_params()


def run_picker(*, need: str | None = "embeddings", where=None, key: str = "run_pick") -> Any | None:
    """A selectbox of past runs; returns the chosen ``RunRecord`` (or ``None`` when there are none).

    The choice is shared by every page (session + URL). ``need`` filters to runs that have the
    artifacts the page shows.
    """
    where = where or st
    runs = list_runs(need=need)
    if not runs:
        return None
    ids = [r.id for r in runs]
    by_id = {r.id: r for r in runs}
    chosen = current_run_id()
    cur = chosen if chosen in by_id else ids[0]
    if chosen is None:
        set_run(cur)
    widget_key = f"{key}_widget"
    # Keep the widget in step with the shared choice (it may have changed on another page).
    if st.session_state.get(widget_key) != cur:
        st.session_state[widget_key] = cur

    def _changed() -> None:
        set_run(st.session_state[widget_key])

    where.selectbox("Run", ids, key=widget_key, format_func=lambda i: run_label(by_id[i]),
                    on_change=_changed, help="Past runs from the run store (newest first). "
                    "The run you pick here stays picked on every page and in the page URL.")
    if chosen is not None and chosen != cur:
        where.caption(f"The run chosen elsewhere ({chosen}) has nothing to show here yet; showing the newest run "
                      "that has.")
    return by_id[cur]


# ---------------------------------------------------------------------------------------------
# loaded runs (cached per run and record version)


def _version(store, run_id: str) -> float:
    """Changes whenever the run's record changes (status / metrics / method added)."""
    try:
        return store.get_run(run_id).updated
    except EOSError:
        return 0.0


@dataclass
class RunEmbeddings:
    train_emb: np.ndarray
    train_logits: np.ndarray
    train_y: np.ndarray
    test_emb: np.ndarray
    test_logits: np.ndarray
    test_y: np.ndarray


@dataclass
class RunView:
    """A saved phase 1, read straight from the run store without torch (the same field names as
    ``eos_core.pipeline.Phase1Result``, minus the model and heads)."""

    run_id: str
    config: Any  # eos_core.config.RunConfig
    classes: list[str]
    train_counts: list[int]
    test_counts: list[int]
    train_idx: np.ndarray
    history: list[dict]
    embeddings: RunEmbeddings
    metrics: dict
    train_recall: list[float]
    timings: dict
    gap: dict

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def read_phase1(store, run_id: str) -> RunView:
    """Re-open a saved phase 1 from its artifacts (``phase1.json``, ``embeddings.npz``,
    ``history.json``, ``gap.json``). Raises ``EOSError`` when phase 1 is not complete."""
    from eos_core.config import RunConfig

    rec = store.get_run(run_id)
    if not store.has(run_id, "phase1", ".json"):
        raise EOSError(f"Run {run_id} has no finished phase 1 (status: {rec.status}).")
    meta = store.load_json(run_id, "phase1")
    arr = store.load_arrays(run_id, "embeddings")
    emb = RunEmbeddings(*(arr[k] for k in ("train_emb", "train_logits", "train_y", "test_emb", "test_logits",
                                          "test_y")))
    return RunView(
        run_id=run_id, config=RunConfig.from_dict(rec.config), classes=list(meta["classes"]),
        train_counts=list(meta["train_counts"]), test_counts=list(meta["test_counts"]), train_idx=arr["train_idx"],
        history=store.load_json(run_id, "history") if store.has(run_id, "history", ".json") else [],
        embeddings=emb, metrics=meta.get("metrics", {}), train_recall=list(meta.get("train_recall", [])),
        timings=meta.get("timings", {}),
        gap=store.load_json(run_id, "gap") if store.has(run_id, "gap", ".json") else {},
    )


@st.cache_resource(max_entries=6, show_spinner="Loading the run…")
def _phase1(root: str, run_id: str, version: float) -> RunView:
    return read_phase1(_store(root), run_id)


def load_phase1(run_id: str) -> RunView:
    """The run's phase 1 (embeddings, counts, history, gap), cached per run version."""
    store = get_store()
    return _phase1(runs_root(), run_id, _version(store, run_id))


def load_json(run_id: str, name: str, default: Any = None) -> Any:
    store = get_store()
    try:
        if store.has(run_id, name, ".json"):
            return store.load_json(run_id, name)
    except (EOSError, ValueError, OSError):
        pass
    return default


# =============================================================================================
# background jobs


@dataclass
class Job:
    """A unit of background work. Fields are written by the worker thread and read by pages."""

    id: str
    kind: str
    label: str
    key: str | None = None
    status: str = "queued"  # queued | running | finished | failed | cancelled
    progress: list[dict] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    run_id: str | None = None
    error: str | None = None
    detail: str | None = None
    result: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    def push(self, info: dict) -> None:
        """The engine's ``progress`` callback: keep every report (they are small dicts)."""
        info = dict(info)
        info.setdefault("t", time.time())
        self.progress.append(info)
        if info.get("run_id") and not self.run_id:
            self.run_id = info["run_id"]

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    def last(self, phase: str | None = None) -> dict | None:
        for p in reversed(self.progress):
            if phase is None or p.get("phase") == phase:
                return p
        return None


class JobManager:
    """Process-wide registry of jobs. At most ``max_concurrent`` heavy jobs run at once (2 CPU
    cores are shared by every browser session); the rest wait in ``queued``."""

    def __init__(self, max_concurrent: int = 1) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, max_concurrent))

    def get(self, job_id: str | None) -> Job | None:
        if not job_id:
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def find(self, key: str) -> Job | None:
        """The newest job with this dedupe key (whatever its status)."""
        with self._lock:
            found = [j for j in self._jobs.values() if j.key == key]
        return max(found, key=lambda j: j.created) if found else None

    def forget(self, job_id: str) -> None:
        """Drop a finished job from the registry (e.g. to retry a failed map)."""
        with self._lock:
            j = self._jobs.get(job_id)
            if j is not None and not j.active:
                del self._jobs[job_id]

    def submit(self, kind: str, label: str, fn: Callable[[Job], dict | None], *, key: str | None = None,
               heavy: bool = True) -> Job:
        job = Job(id=secrets.token_hex(8), kind=kind, label=label, key=key)
        with self._lock:
            self._jobs[job.id] = job
            self._prune()
        threading.Thread(target=self._run, args=(job, fn, heavy), name=f"eos-{kind}-{job.id}",
                         daemon=True).start()
        return job

    def _run(self, job: Job, fn: Callable[[Job], dict | None], heavy: bool) -> None:
        if heavy:
            while not self._slots.acquire(timeout=0.5):
                if job.cancel.is_set():
                    job.status, job.finished = "cancelled", time.time()
                    return
        try:
            job.status, job.started = "running", time.time()
            result = fn(job)
            if job.cancel.is_set() and job.status == "running" and result is None:
                raise Cancelled("Cancelled by the user.")
            job.result = {**job.result, **(result or {})}
            job.status = "finished"
        except Cancelled:
            job.status = "cancelled"
            job.error = "Cancelled — nothing from this job was lost; finished runs stay in the store."
        except EOSError as err:
            job.status, job.error = "failed", str(err)
        except Exception as err:  # noqa: BLE001 — shown to the user as one line, details folded
            job.status = "failed"
            job.error = f"Unexpected error ({type(err).__name__}): {err}"
            job.detail = traceback.format_exc()
        finally:
            job.finished = time.time()
            if heavy:
                self._slots.release()

    def _prune(self, keep: int = 200) -> None:
        if len(self._jobs) <= keep:
            return
        done = sorted((j for j in self._jobs.values() if not j.active), key=lambda j: j.created)
        for j in done[: len(self._jobs) - keep]:
            self._jobs.pop(j.id, None)


@st.cache_resource(show_spinner=False)
def jobs() -> JobManager:
    return JobManager(int(os.environ.get("EOS_MAX_JOBS", "1")))


def session_job_ids() -> list[str]:
    sync_session()
    return list(st.session_state.get(JOBS_KEY, []))


def current_job() -> Job | None:
    """The newest job this browser session started (re-attached after a reload via the URL)."""
    for jid in reversed(session_job_ids()):
        j = jobs().get(jid)
        if j is not None:
            return j
    return None


def _remember_job(job: Job) -> None:
    ids = [j for j in st.session_state.get(JOBS_KEY, []) if j != job.id] + [job.id]
    st.session_state[JOBS_KEY] = ids[-20:]
    _write_query_params()


def forget_job() -> None:
    st.session_state[JOBS_KEY] = []
    _write_query_params()


def start_training(cfg_dict: dict, *, meta: dict | None = None) -> Job:
    """Phase 1, then phases 2–3 for ``cfg.methods``, then the run's UMAP map — in a thread."""
    root, ddir = runs_root(), data_dir()
    label = f"{cfg_dict['data']['dataset']} · ρ={_fmt_ratio(cfg_dict['data']['ratio'])}"

    def work(job: Job) -> dict:
        from eos_core import pipeline
        from eos_core.config import RunConfig

        store = plain_store(root)
        cfg = RunConfig.from_dict(cfg_dict)
        cfg.validate()
        job.push({"phase": "start"})
        p1 = pipeline.run_phase1(cfg, store=store, data_dir=ddir, progress=job.push, cancel=job.cancel,
                                 finalize=False)
        job.run_id = p1.run_id
        job.push({"phase": "phase1_done", "run_id": p1.run_id})
        methods = pipeline.run_methods(p1, cfg, methods=list(cfg.methods), store=store,
                                       progress=job.push, cancel=job.cancel)
        job.push({"phase": "methods_done"})
        if p1.run_id:
            job.push({"phase": "map"})
            try:
                _compute_and_save_map(store, p1.run_id, p1=p1)
            except Exception:  # noqa: BLE001 — the map can be computed later on page 2
                job.push({"phase": "map_failed", "detail": traceback.format_exc(limit=3)})
        return {"run_id": p1.run_id, "methods": list(methods)}

    import_engine()
    job = jobs().submit("train", label, work)
    job.result = {"meta": meta or {}}
    _remember_job(job)
    return job


# =============================================================================================
# maps (2-D projections of the embeddings), saved with the run

MAP_NAME = "projection_umap"  # <run>/projection_umap.npz, written by Projection.save
MAP_ROWS_NAME = "projection_umap_rows"  # <run>/projection_umap_rows.npz: synthetic rows in the map
# UMAP's transform costs ~0.25 ms per row here: the map places a fixed random sample of at most
# this many synthetic points per oversampler (30k rows would add ~7.5 s to every map).
MAP_SYNTHETIC_MAX = 3000


def _map_path(store, run_id: str) -> Path:
    return store.run_dir(run_id) / f"{MAP_NAME}.npz"


def _proj_arrays(proj) -> dict[str, np.ndarray]:
    """``train``, ``test`` and any ``synthetic_<method>`` (N×2 float32) from a Projection."""
    out = {"train": np.asarray(proj.train_xy, dtype=np.float32)}
    for name, xy in (proj.extra_xy or {}).items():
        out[name] = np.asarray(xy, dtype=np.float32)
    return out


def map_sample(n: int, *, seed: int = 0, cap: int | None = None) -> np.ndarray:
    """Sorted rows of a synthetic set that go into the saved map: all of them up to ``cap``
    (default :data:`MAP_SYNTHETIC_MAX`), else a seeded uniform sample (the class mix of the
    sample follows the set's)."""
    cap = MAP_SYNTHETIC_MAX if cap is None else int(cap)
    if n <= cap:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False)).astype(np.int64)


def _compute_and_save_map(store, run_id: str, *, p1=None) -> dict[str, np.ndarray]:
    """Fit the run's UMAP map on the training embeddings, place the test embeddings and a sample
    of every saved oversampler's synthetic points (:func:`map_sample`) into it, and save it with
    the run (the sampled row ids beside it, so provenance still maps)."""
    from eos_core.projection import fit_projection

    if p1 is None:
        p1 = read_phase1(store, run_id)
    emb = p1.embeddings
    extra = {"test": emb.test_emb}
    rows_of: dict[str, np.ndarray] = {}
    for m in (store.load_json(run_id, "methods") if store.has(run_id, "methods", ".json") else {}):
        if store.has(run_id, f"synthetic_{m}", ".npz"):
            x = store.load_arrays(run_id, f"synthetic_{m}")["X_syn"]
            if len(x):
                rows = map_sample(len(x), seed=run_seed(p1))
                rows_of[f"synthetic_{m}"] = rows
                extra[f"synthetic_{m}"] = x[rows]
    proj = fit_projection(emb.train_emb, method="umap", extra=extra, seed=run_seed(p1), train_y=emb.train_y)
    # The rows first: the map file's presence marks a complete map.
    store.save_arrays(run_id, MAP_ROWS_NAME, **rows_of)
    proj.save(_map_path(store, run_id))
    return {**_proj_arrays(proj), **{f"{k}_rows": v for k, v in rows_of.items()}}


@st.cache_data(max_entries=16, show_spinner=False)
def _saved_map(root: str, run_id: str, mtime: float) -> dict[str, np.ndarray]:
    """The saved map's arrays, plus ``synthetic_<m>_rows`` (the rows of each synthetic set it
    placed; absent for maps saved before sampling, which placed every row)."""
    from eos_core.projection import Projection

    store = _store(root)
    out = _proj_arrays(Projection.load(_map_path(store, run_id)))
    if store.has(run_id, MAP_ROWS_NAME, ".npz"):
        try:
            out.update({f"{k}_rows": v for k, v in store.load_arrays(run_id, MAP_ROWS_NAME).items()})
        except (OSError, ValueError):
            pass
    return out


@st.cache_data(max_entries=8, show_spinner="Computing a PCA preview…")
def _pca_map(root: str, run_id: str, version: float) -> dict[str, np.ndarray]:
    from eos_core.projection import fit_projection

    p1 = _phase1(root, run_id, version)
    emb = p1.embeddings
    return _proj_arrays(fit_projection(emb.train_emb, method="pca", extra={"test": emb.test_emb}, seed=0))


def get_map(run_id: str, *, start: bool = True) -> tuple[dict[str, np.ndarray], str, Job | None]:
    """The run's 2-D map: ``(arrays, kind, job)``.

    ``kind="umap"`` when the saved UMAP map exists (loaded in well under a second); otherwise a
    PCA preview (``kind="pca"``) while a background job computes and saves the UMAP map (shared
    by every session looking at this run).
    """
    store, root = get_store(), runs_root()
    path = _map_path(store, run_id)
    if path.exists():
        return _saved_map(root, run_id, path.stat().st_mtime), "umap", None
    job = jobs().find(f"map:{root}:{run_id}")
    if job is not None and job.status in ("finished", "cancelled") and not path.exists():
        jobs().forget(job.id)  # the map file went away (run folder cleaned): compute again
        job = None
    if job is None and start:
        import_engine()

        def work(j: Job) -> dict:
            _compute_and_save_map(plain_store(root), run_id)
            return {"run_id": run_id}

        job = jobs().submit("map", f"UMAP map of {run_id}", work, key=f"map:{root}:{run_id}", heavy=False)
        job.run_id = run_id
    if job is not None and job.status == "finished" and path.exists():
        return _saved_map(root, run_id, path.stat().st_mtime), "umap", None
    return _pca_map(root, run_id, _version(store, run_id)), "pca", job


def import_engine() -> None:
    """Import torch (through ``eos_core.pipeline``) in the script thread.

    Importing torch in a worker thread while the page runs scipy code is unsafe: scipy's
    array-API helpers peek at ``sys.modules["torch"]`` and fail on a half-initialised module. So
    torch is imported here, before any job thread starts, and never first in a thread.

    It also sets torch's intra-op threads once per process: ``$EOS_TORCH_THREADS``, else one less
    than the CPU count (at least 1). The app shares its cores between a training thread, map jobs
    and page reruns; with every core given to torch, spinning OpenMP workers made a 3-epoch digits
    phase 1 take 24 s instead of 0.6 s on the project's busy 2-core box.
    """
    global _THREADS_SET
    import eos_core.pipeline  # noqa: F401

    if not _THREADS_SET:
        import torch

        env = os.environ.get("EOS_TORCH_THREADS", "")
        n = int(env) if env.isdigit() and int(env) > 0 else max(1, (os.cpu_count() or 1) - 1)
        torch.set_num_threads(n)
        _THREADS_SET = True


_THREADS_SET = False


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread | None:
    """Once per process: import torch here in the script thread (see :func:`import_engine`), then
    JIT-compile UMAP in a background thread (numba needs seconds) so the first map of a session is
    quick. Called by :func:`warm_up_later`, i.e. a few seconds after the first page is drawn, not
    during it. ``EOS_NO_WARMUP=1`` skips both (e.g. to time the bare first page)."""
    if os.environ.get("EOS_NO_WARMUP") == "1":
        return None
    import_engine()

    def work() -> None:
        try:
            fn = getattr(_projection_module(), "warm_up_umap", None)
            if fn is not None:
                fn()
        except Exception:  # noqa: BLE001 — warm-up is best effort
            pass

    t = threading.Thread(target=work, name="eos-umap-warmup", daemon=True)
    t.start()
    return t


WARM_UP_DELAY_S = 3.0
_WARM_ARMED = "_eos_warm_up_armed"


def warm_up_later(delay_s: float = WARM_UP_DELAY_S) -> None:
    """Run :func:`warm_up` ``delay_s`` seconds after this run's page reached the browser, not during
    it (``app.py`` calls this last on every run).

    The torch import must happen in a script thread (never first in a worker, see
    :func:`import_engine`), but importing it at the end of the first run made that run ~1.5 s
    longer and competed for the 2 CPU cores with the browser drawing the first page. So a tiny
    fragment with ``run_every`` is armed instead: its timer starts in the browser once the page is
    there, and its first tick imports torch (~1–2 s; the page stays usable, widgets answer after
    it) and then reruns the page once without the fragment, which stops the timer. Once warmed up
    (per process), nothing is drawn. Starting training imports torch anyway (see
    :func:`start_training`) if that comes first."""
    if os.environ.get("EOS_NO_WARMUP") == "1" or _WARMED.is_set():
        return
    st.session_state[_WARM_ARMED] = True

    @st.fragment(run_every=delay_s)
    def _tick() -> None:
        if st.session_state.pop(_WARM_ARMED, False):
            return  # drawn by the full run: only arm the timer
        warm_up()
        _WARMED.set()
        st.rerun()  # a full run that no longer draws this fragment: its timer stops

    with st.sidebar:  # an empty fragment: keep it out of the page's layout
        _tick()


_WARMED = threading.Event()


# =============================================================================================
# image-folder upload

def extract_image_zip(data: bytes) -> tuple[str, list[str]]:
    """Unpack an uploaded .zip with one sub-folder per class (bounded: see ``eos_core.uploads``).

    Returns ``(folder, class_names)``; raises ``DatasetUnavailable`` (``UploadRejected``) with one
    sentence. Abandoned upload folders (not used by a saved run for a day) are swept first.
    """
    from eos_core.uploads import ingest_zip, sweep_uploads

    root = Path(runs_root()) / "uploads"
    try:
        keep = [(r.config.get("data") or {}).get("folder") for r in get_store().list_runs()]
    except EOSError:  # the store is unusable: keep every folder
        keep = None
    if keep is not None:
        sweep_uploads(root, keep=keep)
    return ingest_zip(data, root)


# =============================================================================================
# small page helpers


def explain(text: str, *, title: str = "What am I looking at?") -> None:
    with st.expander(title, expanded=False):
        st.markdown(text)


def show_error(err: BaseException) -> None:
    """A user error as one clear line; an unexpected one with its traceback folded away."""
    if isinstance(err, EOSError):
        st.error(str(err), icon="⚠️")
    else:
        st.error(f"Something went wrong ({type(err).__name__}): {err}", icon="⚠️")
        with st.expander("Technical details"):
            st.code("".join(traceback.format_exception(err)), language="text")


def config_of(rec_or_p1) -> dict:
    cfg = getattr(rec_or_p1, "config", rec_or_p1)
    if dataclasses.is_dataclass(cfg):
        return cfg.to_dict() if hasattr(cfg, "to_dict") else dataclasses.asdict(cfg)
    return dict(cfg or {})


# =============================================================================================
# synthetic points (page 3)


def run_seed(p1) -> int:
    return int(getattr(getattr(p1.config, "train", None), "seed", 0) or 0)


@st.cache_data(max_entries=24, show_spinner="Over-sampling the embeddings…")
def _synthetic(root: str, run_id: str, version: float, method: str, k: int) -> dict[str, np.ndarray]:
    store = _store(root)
    p1 = _phase1(root, run_id, version)
    name = f"synthetic_{method}"
    if int(k) == int(p1.config.k_neighbors) and store.has(run_id, name, ".npz"):
        arr = store.load_arrays(run_id, name)
    else:
        from eos_core.oversampling import resample

        e = p1.embeddings
        x, y, prov = resample(method, e.train_emb, e.train_y, k_neighbors=int(k), random_state=run_seed(p1))
        prov = prov or {}
        arr = {"X_syn": x, "y_syn": y,
               "base": np.asarray(prov.get("base", np.zeros(0, np.int64))),
               "partner": np.asarray(prov.get("partner", np.zeros(0, np.int64))),
               "r": np.asarray(prov.get("r", np.zeros(0, np.float32)))}
    return {k_: np.asarray(v) for k_, v in arr.items()}


def synthetic(run_id: str, method: str, k: int) -> dict[str, np.ndarray]:
    """``X_syn, y_syn, base, partner, r`` for one oversampler and k: the saved arrays when the run
    used this k, else resampled (and cached)."""
    store = get_store()
    return _synthetic(runs_root(), run_id, _version(store, run_id), method, int(k))


@st.cache_resource(max_entries=4, show_spinner=False)
def _train_index(root: str, run_id: str, version: float):
    from eos_core.neighbors import FaissNearestNeighbors

    p1 = _phase1(root, run_id, version)
    return FaissNearestNeighbors(n_neighbors=10, device="cpu").fit(p1.embeddings.train_emb)


def nearest_real(run_id: str, X: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """``(dist, idx)`` of the k nearest real training embeddings (rows of ``train_emb``)."""
    store = get_store()
    nn = _train_index(runs_root(), run_id, _version(store, run_id))
    if len(X) == 0:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return nn.kneighbors(np.asarray(X, dtype=np.float32), n_neighbors=k)


@st.cache_data(max_entries=24, show_spinner="Placing the synthetic points on the map…")
def _placed(root: str, run_id: str, version: float, method: str, k: int, map_kind: str,
            map_mtime: float) -> np.ndarray:
    syn = _synthetic(root, run_id, version, method, k)
    X = syn["X_syn"]
    if len(X) == 0:
        return np.zeros((0, 2), np.float32)
    store = _store(root)
    arrays = (_saved_map(root, run_id, map_mtime) if map_kind == "umap" else _pca_map(root, run_id, version))
    nn = _train_index(root, run_id, version)
    dist, idx = nn.kneighbors(np.asarray(X, dtype=np.float32), n_neighbors=min(10, nn.n_samples_fit_))
    del store
    w = 1.0 / (np.asarray(dist, dtype=np.float64) + 1e-6)
    w /= w.sum(axis=1, keepdims=True)
    xy = np.asarray(arrays["train"], dtype=np.float64)[idx]  # (S, k, 2)
    return (w[:, :, None] * xy).sum(axis=1).astype(np.float32)


def place_synthetic(run_id: str, method: str, k: int, map_kind: str) -> np.ndarray:
    """2-D positions ``(S, 2)`` of the synthetic points on the run's map; NaN rows are not on it.

    The saved UMAP map already holds the run's synthetic sets (at the run's k) placed by UMAP's
    ``transform`` — a seeded sample of at most :data:`MAP_SYNTHETIC_MAX` rows per oversampler, the
    other rows are NaN. Otherwise (another k, or the PCA preview) every point goes to the
    distance-weighted mean map position of its 10 nearest real training embeddings (UMAP's
    transform starts from that same estimate)."""
    store = get_store()
    path = _map_path(store, run_id)
    mtime = path.stat().st_mtime if path.exists() else 0.0
    if map_kind == "umap" and path.exists() and int(k) == int(load_phase1(run_id).config.k_neighbors):
        arrays = _saved_map(runs_root(), run_id, mtime)
        saved = arrays.get(f"synthetic_{method}")
        n = len(synthetic(run_id, method, k)["y_syn"])
        if saved is not None:
            rows = arrays.get(f"synthetic_{method}_rows")
            if rows is None and len(saved) == n:
                return saved
            if rows is not None and len(rows) == len(saved) and (len(rows) == 0 or int(rows.max()) < n):
                out = np.full((n, 2), np.nan, np.float32)
                out[rows] = saved
                return out
    return _placed(runs_root(), run_id, _version(store, run_id), method, int(k), map_kind, mtime)


@st.cache_data(max_entries=24, show_spinner="Measuring the synthetic points…")
def _quality(root: str, run_id: str, version: float, method: str, k: int) -> dict[str, Any]:
    from eos_core.gap import gap_closure, synthetic_enemy_share, synthetic_enemy_share_per_class

    p1 = _phase1(root, run_id, version)
    e = p1.embeddings
    c = len(p1.classes)
    if method == "none":
        x = np.zeros((0, e.train_emb.shape[1]), np.float32)
        y = np.zeros(0, np.int64)
    else:
        syn = _synthetic(root, run_id, version, method, k)
        x, y = syn["X_syn"], syn["y_syn"]
    closure = gap_closure(e.train_emb, e.train_y, x, y, e.test_emb, e.test_y, num_classes=c)
    share = synthetic_enemy_share(e.train_emb, e.train_y, x, y) if len(x) else float("nan")
    per_class = (synthetic_enemy_share_per_class(e.train_emb, e.train_y, x, y, num_classes=c) if len(x)
                 else np.full(c, np.nan))
    return {"closure": np.asarray(closure, dtype=float), "enemy_share": float(share),
            "enemy_share_per_class": np.asarray(per_class, dtype=float), "n": int(len(x))}


def synthetic_quality(run_id: str, method: str, k: int) -> dict[str, Any]:
    """Gap closure per class (``method="none"``: before oversampling) and the share of synthetic
    points whose nearest real neighbour is an enemy."""
    store = get_store()
    return _quality(runs_root(), run_id, _version(store, run_id), method, int(k))


# =============================================================================================
# comparisons across runs (page 4)

_SEED_PATHS = (("data", "seed"), ("train", "seed"), ("head", "seed"))


def config_signature(cfg: dict) -> str:
    """The config with seeds, device and method list removed: runs with equal signatures differ
    only by seed."""
    import copy
    import json

    c = copy.deepcopy(cfg or {})
    for a, b in _SEED_PATHS:
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


def start_seeds(cfg_dict: dict, seeds: list[int], *, meta: dict | None = None) -> Job:
    """Train the same config for several seeds, one after the other, in one background job."""
    import copy

    root, ddir = runs_root(), data_dir()
    label = f"{cfg_dict['data']['dataset']} · seeds {', '.join(map(str, seeds))}"

    def work(job: Job) -> dict:
        from eos_core import pipeline
        from eos_core.config import RunConfig

        store = plain_store(root)
        done = []
        for i, s in enumerate(seeds):
            if job.cancel.is_set():
                raise Cancelled("Cancelled by the user.")
            d = copy.deepcopy(cfg_dict)
            for a, b in _SEED_PATHS:
                d.setdefault(a, {})[b] = int(s)
            cfg = RunConfig.from_dict(d)
            job.push({"phase": "seed", "seed": s, "index": i, "total": len(seeds)})
            p1 = pipeline.run_phase1(cfg, store=store, data_dir=ddir, progress=job.push, cancel=job.cancel,
                                     finalize=False)
            job.run_id = p1.run_id
            pipeline.run_methods(p1, cfg, methods=list(cfg.methods), store=store, progress=job.push,
                                 cancel=job.cancel)
            done.append(p1.run_id)
        return {"run_ids": done, "run_id": None}

    import_engine()
    job = jobs().submit("seeds", label, work)
    job.result = {"meta": meta or {}}
    _remember_job(job)
    return job


def sidebar_status() -> None:
    """A one-line reminder in the sidebar while this session's job runs (drawn on every page)."""
    job = current_job()
    if job is None or not job.active:
        return
    last = job.last("train")
    text = (f"epoch {last['epoch']}/{last['epochs']}" if last and job.last() is last
            else (job.last() or {}).get("phase", job.status))
    st.sidebar.caption(f"⏳ Training in the background: {job.label} · {text}. "
                       "Progress and Cancel are on *Setup & train*.")


def require_phase1(hint: str = "") -> tuple[Any, RunView]:
    """The chosen run and its phase-1 view, or a friendly stop when there is none (pages 2 and 3)."""
    rec = run_picker(need="embeddings")
    if rec is None:
        st.info("No trained run yet. Train one on **Setup & train** first" + (f" — {hint}" if hint else "."))
        st.page_link("pages/1_setup.py", label="Go to Setup & train", icon="🏋️")
        st.stop()
    try:
        return rec, load_phase1(rec.id)
    except EOSError as err:
        show_error(err)
        st.stop()
