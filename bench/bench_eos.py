"""Benchmark EOS on CPU: our vectorised EOS vs. the bare faiss search, the reference script's
algorithm, and imbalanced-learn's SMOTE.

Data: float32 Gaussian class clusters with a long-tail label profile (10 classes, exponential
profile, rho = n_max / n_min = 100), k = 10, sampling_strategy "auto" (every class filled to the
majority count). Sizes 12.4k x 64, 50k x 64 and 100k x 512.

Timed, per size (median of the repeats, after the warm-ups listed in the JSON):

(a) ``EOS(k_neighbors=10).fit_resample`` (faiss neighbours, everything included).
(b) The bare faiss search the method needs: build an ``IndexFlatL2`` over all points and search
    the k+1 neighbours of the same queries EOS makes — the points of the classes being filled
    (with "auto", every class but the majority). EOS overhead = (a) / (b) - 1 (goal <= 30 %).
    For reference, the search of *every* point (k+1) is also timed at the two smaller sizes. The EOS run is also
    split from the inside (time spent in its own neighbour fit + search), which is immune to other
    processes' load changing between (a) and (b).
(c) ``reference_eos``: a faithful re-implementation of the public reference script
    (dd1github/EOS ``EOS.py``) — sklearn ``NearestNeighbors(k+1)`` over every point, a second
    search per minority class, per-sample Python loops — minus its CSV/pandas I/O.
(d) imbalanced-learn ``SMOTE(k_neighbors=10)`` with its default scikit-learn neighbours, for the
    same number of synthetic points.

At 100k x 512 every exact search costs about a minute on a 2-core box, so each method runs twice
there (no warm-up), and the reference is skipped when its estimated time (extrapolated from a timed
slice of its search) exceeds 3 minutes.

Usage::

    .venv/bin/python bench/bench_eos.py               # all sizes, writes bench/results/eos_cpu.json
    .venv/bin/python bench/bench_eos.py --sizes 12.4k  # a subset
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import faiss  # noqa: E402
import imblearn  # noqa: E402
import sklearn  # noqa: E402
from imblearn.over_sampling import SMOTE  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402
from threadpoolctl import threadpool_info  # noqa: E402

import eos_core.neighbors._faiss as nb  # noqa: E402
from eos_core.neighbors._faiss import FaissNearestNeighbors, _search_threads  # noqa: E402
from eos_core.neighbors._faiss import search as _search  # noqa: E402
from eos_core.oversampling import EOS  # noqa: E402

K = 10
RHO = 100.0
N_CLASSES = 10
# Class-centre spread vs unit within-class noise, at d = 64. Squared distances concentrate as d
# grows (their spread ~ sqrt(d)) while a centre offset adds ~ d * sep^2, so sep is scaled by
# (64 / d) ** 0.25 to keep the same border overlap at every d; with a fixed sep the 512-d classes
# separate fully and EOS would fall back to nearest enemies for every class.
SEP = 0.5

# name -> (n, d, warm-ups, repeats)
SIZES = {
    "12.4k": (12_400, 64, 1, 5),
    "50k": (50_000, 64, 1, 3),
    "100k": (100_000, 512, 0, 2),
}
REFERENCE_LIMIT_S = 180.0


# ------------------------------------------------------------------------------------------------
def make_embeddings(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Long-tail Gaussian clusters: (n, d) float32, (n,) int64 with n_c = n_max * rho^(-c/9)."""
    rng = np.random.default_rng(seed)
    w = RHO ** (-np.arange(N_CLASSES) / (N_CLASSES - 1))
    counts = np.floor(n * w / w.sum()).astype(int)
    counts[0] += n - counts.sum()
    y = np.repeat(np.arange(N_CLASSES), counts)
    centers = rng.normal(scale=SEP * (64 / d) ** 0.25, size=(N_CLASSES, d))
    X = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    perm = rng.permutation(n)
    return X[perm], y[perm]


# ------------------------------------------------------------------------------------------------
# (c) REFERENCE: a faithful re-implementation of the public reference script dd1github/EOS EOS.py
#     (same algorithm, loops and data structures; written for this bench, I/O left out). It keeps
#     the script's defect: the neighbour probabilities are built over ind1[n][1:] (self excluded)
#     but the partner is read from ind2[base, j] where column 0 is the point itself, i.e. one
#     column too early — so partners are often same-class points or the base itself.
# ------------------------------------------------------------------------------------------------
def reference_eos(feats: np.ndarray, labs: np.ndarray, num_nbs: int = K, seed: int = 0):
    """Reference-script EOS. Returns (synthetic X (S, D), labels (S,), base idx, partner idx)."""
    rs = np.random.RandomState(seed)
    num_classes = int(labs.max()) + 1
    nds = np.bincount(labs, minlength=num_classes)
    max_samp = np.max(nds)
    nsamp1 = max_samp - nds

    nn = NearestNeighbors(n_neighbors=num_nbs + 1)
    nn.fit(feats)
    _, ind2 = nn.kneighbors(feats)

    bases, probs, nbs, labels = [], [], [], []
    for d in range(num_classes):
        if nds[d] == max_samp:
            continue
        cf = feats[labs == d]
        _, ind1 = nn.kneighbors(cf)  # the script searches each minority class again
        base, prob, nb, lab = [], [], [], []
        for n in range(len(cf)):
            yv = labs[ind1[n][1:]]
            z = sum(yv != d)
            if z > 0:  # the base has nearest enemies
                ybinary = np.where(yv == d, 0, 1)
                ybsum = np.sum(ybinary)
                prob.append(ybinary / ybsum)
                base.append(ind1[n][0])
                nb.append(ind1[n][1:])
                lab.append(d)
        bases.extend(base)
        probs.extend(prob)
        nbs.extend(nb)
        labels.extend(lab)

    basesn, probsn, labelsn = np.array(bases), np.array(probs), np.array(labels)
    samples, ysamp, all_base, all_partner = [], [], [], []
    for i in range(num_classes):
        if nds[i] == max_samp:
            continue
        base1 = basesn[labelsn == i]
        prob1 = probsn[labelsn == i]
        nsamp = int(nsamp1[i])
        bind = rs.choice(list(range(len(base1))), size=nsamp)
        base_indices = base1[bind]
        pb = prob1[bind]
        neighbor_indices = np.empty([nsamp], dtype=int)
        for n in range(nsamp):  # one np.random.choice per synthetic point
            neighbor_indices[n] = rs.choice(list(range(0, num_nbs)), 1, p=pb[n])[0]
        X_base = feats[base_indices]
        partner = ind2[base_indices, neighbor_indices]  # the off-by-one column
        diff = feats[partner] - X_base
        r = rs.rand(nsamp, 1)
        samples.extend(X_base + np.multiply(r, diff))  # a list of rows, as the script builds it
        ysamp.extend(np.ones(nsamp) * i)
        all_base.append(base_indices)
        all_partner.append(partner)
    return np.array(samples), np.array(ysamp), np.concatenate(all_base), np.concatenate(all_partner)


def estimate_reference_s(X: np.ndarray, y: np.ndarray, n_probe: int = 2000) -> float:
    """Lower-bound estimate of reference_eos: its two sklearn searches, from a timed query slice."""
    nn = NearestNeighbors(n_neighbors=K + 1).fit(X)
    t = time.perf_counter()
    nn.kneighbors(X[:n_probe])
    per_query = (time.perf_counter() - t) / n_probe
    n_minority_queries = len(y) - np.bincount(y).max()
    return per_query * (len(X) + n_minority_queries)


# ------------------------------------------------------------------------------------------------
class TimedFaissNN(FaissNearestNeighbors):
    """FaissNearestNeighbors that records the time EOS spends in its fit + kneighbors."""

    spent = 0.0

    def fit(self, X, y=None):
        t = time.perf_counter()
        out = super().fit(X, y)
        TimedFaissNN.spent += time.perf_counter() - t
        return out

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        t = time.perf_counter()
        out = super().kneighbors(X, n_neighbors, return_distance)
        TimedFaissNN.spent += time.perf_counter() - t
        return out


def bare_search(X: np.ndarray, rows: np.ndarray | None = None) -> None:
    """IndexFlatL2 over all points + one k+1 search; through ``_search`` so that it uses the same
    OpenMP thread choice as EOS (free cores only), which is what makes the comparison fair."""
    index = faiss.IndexFlatL2(X.shape[1])
    index.add(X)
    _search(index, X if rows is None else np.ascontiguousarray(X[rows]), K + 1)


_THREADS_USED: list = []


def _recording_search_threads(work: float):
    """eos_core.neighbors._faiss._search_threads, recording each large search's OpenMP thread count."""
    n = _search_threads(work)
    if work >= 1e9:
        _THREADS_USED.append(n)
    return n


nb._search_threads = _recording_search_threads  # _search looks it up at call time


def timed_interleaved(fns: dict, warmup: int, repeats: int) -> dict:
    """Median wall time of each function; the repeats alternate between the functions so that
    load from other processes drifting over time hits all of them alike. Also lists the faiss
    thread counts its large searches used (None: faiss's default)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    runs = {name: [] for name in fns}
    threads = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _THREADS_USED.clear()
            t = time.perf_counter()
            fn()
            runs[name].append(time.perf_counter() - t)
            threads[name].append(list(_THREADS_USED))
    return {name: {"median_s": statistics.median(r), "runs_s": r, "warmup": warmup,
                   "faiss_threads": threads[name]} for name, r in runs.items()}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def bench_size(name: str, skip_reference: bool) -> dict:
    n, d, warmup, repeats = SIZES[name]
    X, y = make_embeddings(n, d)
    counts = np.bincount(y)
    res: dict = {"n": n, "d": d, "k": K, "class_counts": counts.tolist(),
                 "n_synthetic": int(counts.max() * len(counts) - n),
                 # Load from other processes, and the faiss thread count it leads to right now.
                 "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
                 "faiss_threads_sampled": _search_threads(1e12)}

    inside, fallback = [], []

    def run_eos():
        TimedFaissNN.spent = 0.0
        eos = EOS(k_neighbors=K, random_state=0, nn_estimator=TimedFaissNN())
        eos.fit_resample(X, y)
        inside.append(TimedFaissNN.spent)
        res["eos_candidates"] = {int(c): v for c, v in eos.n_candidates_.items()}
        fallback[:] = [int(c) for c in eos.fallback_classes_]

    query_rows = np.flatnonzero(y != np.argmax(counts))  # what EOS queries under "auto"
    res["n_queries"] = int(len(query_rows))
    fns = {
        "eos": run_eos,
        "search": lambda: bare_search(X, query_rows),
        "smote": lambda: SMOTE(k_neighbors=K, random_state=0).fit_resample(X, y),
    }
    if n <= 50_000:
        fns["search_all_points"] = lambda: bare_search(X)
        # The plain FaissNearestNeighbors path (what users run): the timing subclass is free.
        fns["eos_plain"] = lambda: EOS(k_neighbors=K, random_state=0).fit_resample(X, y)
    log(f"{name}: {', '.join(fns)} (interleaved, {warmup} warm-up, {repeats} repeats)")
    res.update(timed_interleaved(fns, warmup, repeats))
    res["eos_inside_search_s"] = statistics.median(inside[warmup:])
    res["eos_fallback_classes"] = fallback
    res["eos_overhead_vs_search"] = res["eos"]["median_s"] / res["search"]["median_s"] - 1.0
    res["eos_overhead_inside"] = res["eos"]["median_s"] / res["eos_inside_search_s"] - 1.0

    est = estimate_reference_s(X, y) if name == "100k" else None
    if skip_reference or (est is not None and est > REFERENCE_LIMIT_S):
        res["reference"] = None
        res["reference_skipped"] = (
            f"estimated >= {est:.0f} s (its two sklearn searches alone) > {REFERENCE_LIMIT_S:.0f} s"
            if est is not None else "skipped on request"
        )
        log(f"{name}: reference skipped ({res['reference_skipped']})")
    else:
        log(f"{name}: reference_eos, each run paired with an EOS run")
        ref_out = {}

        def run_ref():
            ref_out["out"] = reference_eos(X, y)

        # Pairs (EOS, reference) back to back: the speed-up is the median of the pair ratios, so
        # load changes between pairs cancel out. The reference gets no warm-up beyond 20k rows
        # (Python and the libraries are warm by then; a run costs tens of seconds).
        pairs = timed_interleaved({"eos_paired": fns.get("eos_plain", run_eos), "reference": run_ref},
                                  min(warmup, 1) if n <= 20_000 else 0, repeats)
        res.update(pairs)
        _, _, rb, rp = ref_out["out"]
        res["reference_partner_is_enemy"] = float(np.mean(y[rp] != y[rb]))
        res["reference_partner_is_base"] = float(np.mean(rp == rb))
        res["eos_speedup_vs_reference"] = statistics.median(
            r / e for r, e in zip(pairs["reference"]["runs_s"], pairs["eos_paired"]["runs_s"], strict=True))
    res["eos_speedup_vs_smote"] = res["smote"]["median_s"] / res["eos"]["median_s"]
    return res


def machine_info() -> dict:
    import torch

    try:
        cpu = next(
            (ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
            platform.processor(),
        )
    except OSError:
        cpu = platform.processor()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch": torch.__version__,
        "faiss": faiss.__version__,
        "faiss_omp_threads": faiss.omp_get_max_threads(),
        # Kernel faiss's bundled OpenBLAS actually runs (see eos_core.neighbors._faiss on the hint).
        "faiss_openblas_arch": next(
            (i.get("architecture") for i in threadpool_info()
             if i.get("prefix") == "libopenblas" and "faiss" in i.get("filepath", "")), None),
        "faiss_env_hints": not os.environ.get("EOS_NO_FAISS_ENV_HINTS"),
        "numpy": np.__version__,
        "scikit_learn": sklearn.__version__,
        "imbalanced_learn": imblearn.__version__,
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def fmt(x, spec=".2f", suffix=""):
    return "—" if x is None else f"{x:{spec}}{suffix}"


def markdown(results: dict) -> str:
    rows = [
        "| size | synthetic | EOS (s) | bare faiss search, same queries (s) | EOS overhead | "
        "overhead, in-run split | all-points search (s) | reference (s) | EOS speed-up vs reference "
        "| SMOTE (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["sizes"].values():
        ref = r.get("reference")
        all_pts = r.get("search_all_points")
        rows.append(
            f"| {r['n']:,} x {r['d']} | {r['n_synthetic']:,} | {r['eos']['median_s']:.3f} | "
            f"{r['search']['median_s']:.3f} ({r['n_queries']:,} queries) | "
            f"{100 * r['eos_overhead_vs_search']:+.1f} % | {100 * r['eos_overhead_inside']:+.1f} % | "
            f"{fmt(all_pts['median_s'] if all_pts else None, '.3f')} | "
            f"{fmt(ref['median_s'] if ref else None, '.2f') if ref else 'skipped'} | "
            f"{fmt(r.get('eos_speedup_vs_reference'), '.1f', 'x')} | {r['smote']['median_s']:.3f} |"
        )
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "eos_cpu.json"))
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    results = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "setup": {"k": K, "rho": RHO, "classes": N_CLASSES, "profile": "exp", "sep": SEP,
                  "sampling_strategy": "auto", "dtype": "float32"},
        "sizes": {},
    }
    for name in args.sizes:
        results["sizes"][name] = bench_size(name, args.skip_reference)
        log(f"{name}: done")
    results["total_s"] = time.perf_counter() - t0
    results["machine"]["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    print(f"\n{results['date']} · {results['machine']['cpu']} · {results['machine']['cpu_count']} CPUs · "
          f"torch {results['machine']['torch']} · faiss {results['machine']['faiss']} · "
          f"total {results['total_s']:.0f} s · written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
