"""Base, partner and r of every synthetic row, captured from imbalanced-learn's own generation step.

EOS records its provenance itself (:attr:`eos_core.oversampling.EOS.provenance_`). For SMOTE,
Borderline-SMOTE, ADASYN and random over-sampling the same record is *observed* while
imbalanced-learn (pinned 0.14.2) generates, never recomputed, so the synthetic rows stay
imbalanced-learn's, bit for bit:

* SMOTE and Borderline-SMOTE-1 generate in ``BaseSMOTE._generate_samples(X, nn_data, nn_num, rows,
  cols, steps, y_type)``: ``X[rows] + steps * (nn_data[nn_num[rows, cols]] - X[rows])``. The
  instance's method is shadowed for the duration of one ``fit_resample`` by a wrapper that calls the
  class's own method and records ``rows``, ``cols``, ``steps`` and ``nn_num``. ``X`` is the class's
  rows (SMOTE) or its "danger" rows (Borderline-SMOTE, whose global indices the sampler keeps in
  ``in_danger_indices``); ``nn_data`` is the class's rows in both.
* ADASYN generates inline in ``_fit_resample`` (``diffs = X_class[nns[rows, cols]] - X_class[rows]``,
  ``steps = random_state.uniform(size=(n, 1))``). Its neighbour estimator is wrapped so that the
  neighbour table it returns records the one ``nns[rows, cols]`` lookup of each class, and its random
  state is replaced by a :class:`numpy.random.RandomState` subclass that draws the very same stream and
  records ``uniform``'s output.
* RandomOverSampler keeps the copied rows in ``sample_indices_``: base = partner = that row, r = 0.

``r`` is imbalanced-learn's ``steps`` (float64). In float64, ``base + r * (partner - base)`` computed the
way imbalanced-learn does (difference in the data's dtype, product and sum in float64, then cast)
reproduces the synthetic rows exactly; the record stores ``r`` as float32 like EOS, which reconstructs
them to float32 rounding (``exact_r=True`` keeps float64).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE, RandomOverSampler
from sklearn.utils import check_random_state

__all__ = ["fit_resample_with_provenance", "concat_provenance", "copies_provenance", "reconstruct"]


class _RecordingRandomState(np.random.RandomState):
    """The same stream as the RandomState it replaces; records every ``uniform`` draw."""

    def __init__(self, source: np.random.RandomState) -> None:
        super().__init__()
        self.set_state(source.get_state())
        self.uniform_draws: list[np.ndarray] = []

    def uniform(self, low=0.0, high=1.0, size=None):  # noqa: D102 — numpy's signature
        out = super().uniform(low, high, size)
        self.uniform_draws.append(np.array(out, dtype=np.float64, copy=True))
        return out


class _RecordingIndex(np.ndarray):
    """A neighbour table that logs its ``table[rows, cols]`` lookups (ADASYN's partner choice)."""

    log: list[tuple[np.ndarray, np.ndarray, np.ndarray]]

    def __array_finalize__(self, obj) -> None:
        self.log = getattr(obj, "log", None)

    def __getitem__(self, key):
        out = super().__getitem__(key)
        if (
            self.log is not None and isinstance(key, tuple) and len(key) == 2
            and all(isinstance(k, np.ndarray) and k.dtype.kind in "iu" for k in key)
        ):
            self.log.append((np.asarray(self).copy(), key[0].copy(), key[1].copy()))
        return out


class _RecordingNeighbors:
    """Forwards to a fitted-neighbours estimator; tags the index tables it returns."""

    def __init__(self, inner: Any, log: list) -> None:
        self._inner = inner
        self._log = log

    def fit(self, X, y=None):
        self._inner.fit(X)
        return self

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        res = self._inner.kneighbors(X, n_neighbors=n_neighbors, return_distance=return_distance)
        if return_distance:
            dist, idx = res
            return dist, self._tag(idx)
        return self._tag(res)

    def _tag(self, idx: np.ndarray) -> np.ndarray:
        tagged = np.asarray(idx).view(_RecordingIndex)
        tagged.log = self._log
        return tagged

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def _empty() -> dict[str, np.ndarray]:
    return {"base": np.empty(0, np.int64), "partner": np.empty(0, np.int64), "r": np.empty(0, np.float64)}


def _finish(base: list, partner: list, r: list, exact_r: bool) -> dict[str, np.ndarray]:
    out = _empty() if not base else {
        "base": np.concatenate(base).astype(np.int64),
        "partner": np.concatenate(partner).astype(np.int64),
        "r": np.concatenate(r).astype(np.float64),
    }
    if not exact_r:
        out["r"] = out["r"].astype(np.float32)
    return out


def _smote_family(sampler, X, y, exact_r: bool):
    calls: list[tuple] = []
    cls_method = type(sampler)._generate_samples

    def generate(Xs, nn_data, nn_num, rows, cols, steps, y_type=None, y_check=None):
        out = cls_method(sampler, Xs, nn_data, nn_num, rows, cols, steps, y_type, y_check)
        calls.append((y_type, np.asarray(nn_num).copy(), np.asarray(rows).copy(), np.asarray(cols).copy(),
                      np.asarray(steps, dtype=np.float64).reshape(-1).copy()))
        return out

    sampler._generate_samples = generate  # instance attribute shadows the class method for this call
    try:
        X_res, y_res = sampler.fit_resample(X, y)
    finally:
        del sampler._generate_samples
    y_arr = np.asarray(y)
    base, partner, r = [], [], []
    for y_type, nn_num, rows, cols, steps in calls:
        cls_rows = np.flatnonzero(y_arr == y_type)  # imbalanced-learn's target_class_indices
        bases = sampler.in_danger_indices[y_type] if isinstance(sampler, BorderlineSMOTE) else cls_rows
        base.append(bases[rows])
        partner.append(cls_rows[nn_num[rows, cols]])
        r.append(steps)
    return X_res, y_res, _finish(base, partner, r, exact_r)


def _adasyn(sampler: ADASYN, X, y, exact_r: bool):
    lookups: list = []
    given = sampler.random_state
    source = check_random_state(given)
    rng = _RecordingRandomState(source)
    cls_validate = type(sampler)._validate_estimator

    def validate():
        cls_validate(sampler)
        sampler.nn_ = _RecordingNeighbors(sampler.nn_, lookups)

    sampler._validate_estimator = validate
    sampler.random_state = rng
    try:
        X_res, y_res = sampler.fit_resample(X, y)
    finally:
        del sampler._validate_estimator
        sampler.random_state = given
        if isinstance(given, np.random.RandomState):
            given.set_state(rng.get_state())  # the caller's generator advances as without us
        if isinstance(sampler.__dict__.get("nn_"), _RecordingNeighbors):
            sampler.nn_ = sampler.nn_._inner
    y_arr = np.asarray(y)
    classes = [c for c, n in sampler.sampling_strategy_.items() if n > 0]
    if len(lookups) != len(classes) or len(rng.uniform_draws) != len(classes):
        raise RuntimeError(
            f"ADASYN provenance: saw {len(lookups)} neighbour lookups and {len(rng.uniform_draws)} step draws "
            f"for {len(classes)} classes; the pinned imbalanced-learn's generation step has changed."
        )
    base, partner, r = [], [], []
    for label, (table, rows, cols), steps in zip(classes, lookups, rng.uniform_draws, strict=True):
        cls_rows = np.flatnonzero(y_arr == label)
        base.append(cls_rows[rows])
        partner.append(cls_rows[table[rows, cols]])
        r.append(steps.reshape(-1))
    return X_res, y_res, _finish(base, partner, r, exact_r)


def fit_resample_with_provenance(sampler, X, y, *, exact_r: bool = False):
    """``sampler.fit_resample(X, y)`` plus the base, partner and r of every synthetic row.

    Parameters
    ----------
    sampler : SMOTE, BorderlineSMOTE (kind="borderline-1"), ADASYN or RandomOverSampler
        An imbalanced-learn sampler (any neighbour estimator). Other samplers are run and get ``None``.
    X : ndarray of shape (N, D)
    y : ndarray of shape (N,)
    exact_r : bool, default=False
        Keep ``r`` in float64 (imbalanced-learn's ``steps``); the default float32 matches EOS's record.

    Returns
    -------
    X_res : ndarray of shape (N + S, D)
        Exactly ``sampler.fit_resample(X, y)``'s rows (the originals, then S synthetic rows).
    y_res : ndarray of shape (N + S,)
    provenance : dict or None
        ``base`` and ``partner`` (int64 rows into ``X``) and ``r``, each (S,), aligned with
        ``X_res[N:]``: synthetic row i is ``X[base[i]] + r[i] * (X[partner[i]] - X[base[i]])``.
    """
    if isinstance(sampler, BorderlineSMOTE):
        if sampler.kind != "borderline-1":
            raise ValueError("Provenance is recorded for Borderline-SMOTE kind='borderline-1' only.")
        return _smote_family(sampler, X, y, exact_r)
    if isinstance(sampler, SMOTE):
        return _smote_family(sampler, X, y, exact_r)
    if isinstance(sampler, ADASYN):
        return _adasyn(sampler, X, y, exact_r)
    X_res, y_res = sampler.fit_resample(X, y)
    if isinstance(sampler, RandomOverSampler):
        rows = np.asarray(sampler.sample_indices_[len(X):], dtype=np.int64)
        r = np.zeros(len(rows), np.float64 if exact_r else np.float32)
        return X_res, y_res, {"base": rows, "partner": rows.copy(), "r": r}
    return X_res, y_res, None


def copies_provenance(row: int, n: int) -> dict[str, np.ndarray]:
    """Provenance of ``n`` plain copies of row ``row`` (base = partner = row, r = 0)."""
    rows = np.full(n, row, dtype=np.int64)
    return {"base": rows, "partner": rows.copy(), "r": np.zeros(n, np.float32)}


def concat_provenance(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join provenance records in the order their synthetic rows are concatenated."""
    if not parts:
        out = _empty()
        out["r"] = out["r"].astype(np.float32)
        return out
    return {key: np.concatenate([p[key] for p in parts]) for key in ("base", "partner", "r")}


def reconstruct(X: np.ndarray, provenance: dict[str, np.ndarray]) -> np.ndarray:
    """Synthetic rows from their record, computed as imbalanced-learn does.

    Parameters
    ----------
    X : ndarray of shape (N, D)
    provenance : dict with ``base``, ``partner``, ``r`` of shape (S,)

    Returns
    -------
    ndarray of shape (S, D), X's dtype
        ``X[base] + r * (X[partner] - X[base])`` — the difference in X's dtype, the rest in r's dtype.
    """
    b = X[provenance["base"]]
    diffs = X[provenance["partner"]] - b
    return (b + provenance["r"][:, None] * diffs).astype(X.dtype)
