"""Phase 2: over-sampling in embedding space.

* :class:`EOS` — Expansive Over-Sampling (Dablain, Bellinger, Krawczyk & Chawla, 2022,
  arXiv:2207.06080) as an imbalanced-learn sampler: synthetic points are drawn on the segment from
  a *border* sample of the class to one of its nearest *enemies* (other-class points), which expands
  the class's region towards the decision boundary.
* :func:`make_sampler` / :data:`METHODS` — every method compared by the app, as imbalanced-learn
  samplers whose neighbour searches run on faiss (:class:`~eos_core.neighbors.FaissNearestNeighbors`).
* :func:`resample` — what the pipeline calls: only the synthetic rows, with the small-class cases
  imbalanced-learn cannot handle made safe.

Unlike the public reference script (dd1github/EOS ``EOS.py``), which reads the partner from a
neighbour column shifted by one — so about half of its "enemies" are same-class points or the base
itself — :class:`EOS` only ever pairs a base with a point of another class from its own
k-neighbourhood.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE, RandomOverSampler
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import check_sampling_strategy, check_target_type
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn_compat.utils.validation import validate_data

from .config import METHODS
from .errors import ConfigError
from .neighbors import FaissNearestNeighbors, drop_self, nearest_enemies

__all__ = ["EOS", "METHODS", "make_sampler", "resample"]

# The method names live in config (the CLI and the app validate against them without importing
# imbalanced-learn); re-exported here for samplers' users.

# Rows interpolated per block: the two gathered (block, D) operands then stay in L2 cache instead
# of materialising three (S, D) temporaries (S can be several times N).
_BLOCK_BYTES = 1 << 20


def _check_k(k, what: str = "k_neighbors") -> int:
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise ConfigError(f"{what} must be an integer of at least 1, got {k!r}.")
    return int(k)


def _all_finite(X: np.ndarray) -> bool:
    # One pass without a temporary; the element-wise test only runs when the sum is not finite.
    return bool(np.isfinite(X.sum(dtype=np.float64)) or np.isfinite(X).all())


def _interpolate(X: np.ndarray, base: np.ndarray, partner: np.ndarray, r: np.ndarray, out: np.ndarray) -> None:
    """Write ``X[base] + r * (X[partner] - X[base])`` into ``out`` (S, D), block by block."""
    step = max(64, _BLOCK_BYTES // max(1, X.shape[1] * X.itemsize))
    r_col = r.astype(X.dtype, copy=False)[:, None]
    xb_buf = np.empty((min(step, len(base)), X.shape[1]), dtype=X.dtype)
    for s in range(0, len(base), step):
        e = min(s + step, len(base))
        seg, xb = out[s:e], xb_buf[: e - s]
        # mode="clip": np.take buffers its output in the default mode="raise"; the indices come
        # from our own tables and are always in range.
        np.take(X, partner[s:e], axis=0, out=seg, mode="clip")
        np.take(X, base[s:e], axis=0, out=xb, mode="clip")
        seg -= xb
        seg *= r_col[s:e]
        seg += xb


class EOS(BaseOverSampler):
    """Expansive Over-Sampling: interpolate from border samples towards their nearest enemies.

    For every sample of a class to fill, its ``k_neighbors`` nearest neighbours are searched in the
    whole training set (all classes, the point itself excluded; samples of classes that get no
    synthetic points are never bases, so they are not queried). A sample is a *base candidate* of
    its class when at least one of those neighbours belongs to another class (an *enemy*). To fill a class, bases are
    drawn uniformly with replacement from its candidates, each base's partner uniformly among the
    enemies in its k-neighbourhood, and ``x_new = x_base + r * (x_partner - x_base)`` with
    ``r ~ U[0, 1)`` per synthetic point; the label is the base's class. A class whose samples have
    no enemy in their k-neighbourhood (a far-away cluster) falls back to using all of its samples,
    each with its k nearest enemies.

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        How many points each class gets, as in imbalanced-learn (``"auto"`` fills every class but
        the majority up to the majority count).
    random_state : int, RandomState instance or None, default=None
        Seed of the draws; an int makes the output deterministic.
    k_neighbors : int, default=10
        Neighbourhood size (the paper's k).
    nn_estimator : KNeighborsMixin-like estimator or None, default=None
        Neighbour search to use; it is cloned, given ``n_neighbors=k_neighbors + 1`` (the point
        itself plus k, as imbalanced-learn's ``nn_k_``), fitted on all of ``X`` and queried with
        the rows of the classes to fill; each point's own row is then dropped.
        ``None`` uses :class:`~eos_core.neighbors.FaissNearestNeighbors`.

    Attributes
    ----------
    sampling_strategy_ : dict
        Class label -> number of synthetic points generated.
    nn_ : estimator
        The fitted neighbour search.
    provenance_ : dict of ndarray
        ``"base"`` (S,) int64 and ``"partner"`` (S,) int64 row indices into the ``X`` given, and
        ``"r"`` (S,) float32, in synthetic-row order.
    n_candidates_ : dict
        Class label -> number of base candidates (samples with an enemy among their k neighbours),
        for the classes that were filled.
    fallback_classes_ : list
        Classes that had no candidate and used every sample with its nearest enemies.

    Notes
    -----
    ``fit_resample`` returns the original rows followed by the synthetic rows, in the input's float
    dtype (integers become float64). The neighbour search runs in float32.
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "k_neighbors": [Interval(Integral, 1, None, closed="left")],
        "nn_estimator": [HasMethods(["kneighbors", "kneighbors_graph"]), None],
    }

    def __init__(self, *, sampling_strategy="auto", random_state=None, k_neighbors=10, nn_estimator=None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.k_neighbors = k_neighbors
        self.nn_estimator = nn_estimator

    # -- public entry points ------------------------------------------------------------------
    def fit_resample(self, X, y, **params):
        """Resample: the original rows followed by the synthetic ones.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        X_resampled : ndarray of shape (n_samples + S, n_features)
            ``X`` then the ``S`` synthetic rows.
        y_resampled : ndarray of shape (n_samples + S,)
            ``y`` then the synthetic labels.
        """
        # Checked before imbalanced-learn's parameter validation so the user gets one clear
        # ConfigError sentence rather than sklearn's generic InvalidParameterError.
        _check_k(self.k_neighbors)
        return super().fit_resample(X, y, **params)

    def fit_generate(self, X, y):
        """Like :meth:`fit_resample` but return only the synthetic rows (no copy of ``X``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        X_syn : ndarray of shape (S, n_features)
            Synthetic rows, input float dtype.
        y_syn : ndarray of shape (S,)
            Their labels (dtype of ``y``).
        """
        _check_k(self.k_neighbors)
        check_classification_targets(y)
        self._validate_params()
        X, y, _ = self._check_X_y(X, y)
        self.sampling_strategy_ = check_sampling_strategy(self.sampling_strategy, y, self._sampling_type)
        base, partner, r, y_syn = self._plan(X, y)
        X_syn = np.empty((len(base), X.shape[1]), dtype=X.dtype)
        _interpolate(X, base, partner, r, X_syn)
        return X_syn, y_syn

    # -- imbalanced-learn hooks ---------------------------------------------------------------
    def _check_X_y(self, X, y, accept_sparse=None):
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        # Keep float32 as float32 (embeddings) and float64 as float64; anything else -> float64.
        X, y = validate_data(
            self, X=X, y=y, reset=True, accept_sparse=False, dtype=[np.float64, np.float32],
            ensure_all_finite=False,
        )
        if not _all_finite(X):
            raise ConfigError("The embeddings passed to EOS contain NaN or infinite values.")
        n_classes = len(np.unique(y))
        if n_classes < 2:
            raise ConfigError(f"EOS needs at least two classes to find enemies, but y has {n_classes}.")
        k = int(self.k_neighbors)
        if k >= len(X):
            raise ConfigError(
                f"k_neighbors={k} must be smaller than the number of samples ({len(X)})."
            )
        return X, y, binarize_y

    def _fit_resample(self, X, y):
        base, partner, r, y_syn = self._plan(X, y)
        n = len(X)
        X_res = np.empty((n + len(base), X.shape[1]), dtype=X.dtype)
        X_res[:n] = X
        _interpolate(X, base, partner, r, X_res[n:])
        return X_res, np.concatenate([y, y_syn])

    # -- the method ---------------------------------------------------------------------------
    def _make_nn(self, k: int):
        nn = FaissNearestNeighbors() if self.nn_estimator is None else clone(self.nn_estimator)
        if "n_neighbors" in nn.get_params(deep=False):
            nn.set_params(n_neighbors=k + 1)
        return nn

    def _plan(self, X: np.ndarray, y: np.ndarray):
        """Draw bases, partners and steps.

        Returns
        -------
        base, partner : ndarray of shape (S,), int64
        r : ndarray of shape (S,), float32 in [0, 1)
        y_syn : ndarray of shape (S,), dtype of y
        """
        k = int(self.k_neighbors)
        # Seed a Generator from the sklearn-style random_state: it draws float32 directly in
        # [0, 1) (a float64 draw rounded to float32 could become 1.0) and bounded integers with a
        # per-element upper bound.
        seed = check_random_state(self.random_state).randint(0, 2**32 - 1, size=4, dtype=np.uint64)
        gen = np.random.default_rng(seed)

        X32 = X if X.dtype == np.float32 else X.astype(np.float32)
        nn = self._make_nn(k)
        nn.fit(X32)
        self.nn_ = nn

        classes, y_enc = np.unique(y, return_inverse=True)
        y_enc = y_enc.astype(np.int32, copy=False)
        # Rows of each class without a Python scan per class: one stable sort by class code.
        order = np.argsort(y_enc, kind="stable")
        bounds = np.searchsorted(y_enc[order], np.arange(len(classes) + 1))
        fill = [
            (label, int(np.searchsorted(classes, label)), int(n_gen))
            for label, n_gen in self.sampling_strategy_.items()
            if n_gen > 0
        ]
        self.n_candidates_, self.fallback_classes_ = {}, []
        if not fill:
            empty = np.empty(0, np.int64)
            self.provenance_ = {"base": empty, "partner": empty.copy(), "r": np.empty(0, np.float32)}
            return empty, empty.copy(), np.empty(0, np.float32), np.empty(0, dtype=y.dtype)

        # Only the classes being filled are queried (against all points): the neighbourhoods of
        # other samples are never used, so this is exact, and with "auto" it skips the majority
        # class (40 % of the rows for a rho=100 exponential profile) in the dominant cost.
        q_rows = np.concatenate([order[bounds[c]:bounds[c + 1]] for _, c, _ in fill])
        table = np.asarray(nn.kneighbors(X32[q_rows], n_neighbors=k + 1, return_distance=False))
        table, _ = drop_self(table, q_rows)  # (Q, k): row t holds the neighbours of q_rows[t]
        enemy = y_enc[table] != y_enc[q_rows][:, None]  # (Q, k) bool
        n_enemies = enemy.sum(axis=1, dtype=np.int32)  # (Q,)

        picks, labels, fb_parts = [], [], []  # fb_parts: (slot offset, class rows, picks, enemy table)
        n_syn, off = 0, 0
        for label, c, n_gen in fill:
            n_c = int(bounds[c + 1] - bounds[c])
            cand = off + np.flatnonzero(n_enemies[off:off + n_c] > 0)  # positions in the table
            self.n_candidates_[label] = int(len(cand))
            if len(cand) == 0:
                # No sample of this class sees an enemy within k: use all of them, each with its
                # own nearest enemies (at most as many as there are other-class points).
                self.fallback_classes_.append(label)
                k_fb = min(k, len(X) - n_c)
                fb_table, _ = nearest_enemies(X32, y_enc, k_fb, device=getattr(nn, "device", "auto"), only_class=c)
                pick = gen.integers(0, n_c, size=n_gen)
                fb_parts.append((n_syn, pick, fb_table))
                picks.append(off + pick)
            else:
                picks.append(cand[gen.integers(0, len(cand), size=n_gen)])
            labels.append(np.full(n_gen, label, dtype=y.dtype))
            n_syn += n_gen
            off += n_c

        t = np.concatenate(picks)  # table position of each synthetic point's base
        base = q_rows[t].astype(np.int64, copy=False)
        partner = np.empty(n_syn, dtype=np.int64)
        regular = np.ones(n_syn, dtype=bool)
        for slot, pick, fb_table in fb_parts:
            sl = slice(slot, slot + len(pick))
            regular[sl] = False
            # fb_table rows follow the class's rows in increasing order, as the table does.
            partner[sl] = fb_table[pick, gen.integers(0, fb_table.shape[1], size=len(pick))]
        tr = t[regular] if fb_parts else t
        # Partner = the j-th enemy (in neighbour order) of the base, j ~ U{0..n_enemies-1}: the
        # running count of enemies along the row first exceeds j at that enemy's column.
        j = gen.integers(0, n_enemies[tr])
        col = np.argmax(np.cumsum(enemy[tr], axis=1, dtype=np.int32) > j[:, None], axis=1)
        partner[regular] = table[tr, col]
        r = gen.random(n_syn, dtype=np.float32)

        self.provenance_ = {"base": base, "partner": partner, "r": r}
        return base, partner, r, np.concatenate(labels)


# ------------------------------------------------------------------------------------------------
# The methods the app compares
# ------------------------------------------------------------------------------------------------
def _build(name: str, k: int, m: int, random_state, sampling_strategy):
    if name == "none":
        return None
    if name == "ros":
        return RandomOverSampler(sampling_strategy=sampling_strategy, random_state=random_state)
    if name == "eos":
        return EOS(sampling_strategy=sampling_strategy, random_state=random_state, k_neighbors=k)
    # imbalanced-learn queries these with the point itself included, hence k + 1 (the same
    # "additional_neighbor" it adds when given an int).
    nn_k = FaissNearestNeighbors(n_neighbors=k + 1)
    if name == "smote":
        return SMOTE(sampling_strategy=sampling_strategy, random_state=random_state, k_neighbors=nn_k)
    if name == "bsmote":
        return BorderlineSMOTE(
            sampling_strategy=sampling_strategy, random_state=random_state, k_neighbors=nn_k,
            m_neighbors=FaissNearestNeighbors(n_neighbors=m + 1), kind="borderline-1",
        )
    if name == "adasyn":
        return ADASYN(sampling_strategy=sampling_strategy, random_state=random_state, n_neighbors=nn_k)
    raise ConfigError(f"Unknown over-sampling method {name!r}; choose one of {', '.join(METHODS)}.")


def make_sampler(name, *, k_neighbors=10, random_state=None, sampling_strategy="auto"):
    """Build the sampler of one compared method.

    Parameters
    ----------
    name : {"none", "ros", "smote", "bsmote", "adasyn", "eos"}
        Method. ``"bsmote"`` is Borderline-SMOTE-1 with ``m_neighbors = k_neighbors`` (one k for
        every method; with the default 10 that is imbalanced-learn's own default m).
    k_neighbors : int, default=10
        Neighbourhood size (ignored by ``"ros"``).
    random_state : int, RandomState instance or None
        Seed.
    sampling_strategy : float, str, dict or callable, default="auto"
        imbalanced-learn's sampling strategy.

    Returns
    -------
    sampler : imbalanced-learn sampler or None
        ``None`` for ``"none"``; otherwise ``RandomOverSampler``, ``SMOTE``, ``BorderlineSMOTE``,
        ``ADASYN`` (neighbour searches on :class:`FaissNearestNeighbors`) or :class:`EOS`.
        SMOTE-family samplers need ``k_neighbors < `` the smallest filled class size; use
        :func:`resample` to have that handled.
    """
    if name not in METHODS:
        raise ConfigError(f"Unknown over-sampling method {name!r}; choose one of {', '.join(METHODS)}.")
    k = _check_k(k_neighbors)
    return _build(name, k, k, random_state, sampling_strategy)


def _empty(d: int):
    return np.empty((0, d), np.float32), np.empty(0, np.int64)


def resample(name, X, y, *, k_neighbors=10, random_state=None, sampling_strategy="auto"):
    """Over-sample with one method and return only the synthetic rows.

    Small classes are made safe instead of failing:

    * SMOTE, Borderline-SMOTE and ADASYN interpolate within the class, so they need
      ``k < class size``: each class uses ``k_eff = min(k, n_class - 1)`` (classes sharing a
      ``k_eff`` are resampled in one call). A class with a single sample has nothing to interpolate
      with; it is filled by random over-sampling (copies of that sample), with a warning, so the
      class counts still match the target.
    * ADASYN raises when a class has no other-class neighbour ("not any neighbours belong to the
      majority") or rounds its quota to zero; such a class gets zero synthetic rows, with a warning.
    * Borderline-SMOTE generates nothing for a class without "danger" samples (imbalanced-learn's
      behaviour, kept).
    * EOS and the ``m`` neighbourhood of Borderline-SMOTE search the whole set; their k is clamped
      to ``n_samples - 1`` (with a warning for EOS).

    Parameters
    ----------
    name : str
        One of :data:`METHODS`.
    X : array-like of shape (N, D)
        Embeddings.
    y : array-like of shape (N,)
        Integer class labels.
    k_neighbors : int, default=10
    random_state : int, RandomState instance or None
        An int makes the result deterministic.
    sampling_strategy : float, str, dict or callable, default="auto"

    Returns
    -------
    X_syn : ndarray of shape (S, D), float32
        Synthetic rows only.
    y_syn : ndarray of shape (S,), int64
        Their labels.
    provenance : dict or None
        EOS only: ``base``, ``partner`` (int64 rows into ``X``) and ``r`` (float32), each (S,).
    """
    if name not in METHODS:
        raise ConfigError(f"Unknown over-sampling method {name!r}; choose one of {', '.join(METHODS)}.")
    k = _check_k(k_neighbors)
    X = np.ascontiguousarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ConfigError(f"X must be (N, D) and y (N,) with the same N, got {X.shape} and {y.shape}.")
    if y.dtype.kind not in "iub":
        raise ConfigError(f"Class labels must be integers, got dtype {y.dtype}.")
    if not _all_finite(X):
        raise ConfigError("The embeddings to over-sample contain NaN or infinite values.")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ConfigError(f"Over-sampling needs at least two classes, but y has {len(classes)}.")
    n, d = X.shape
    y = y.astype(np.int64, copy=False)

    if name == "none":
        X_syn, y_syn = _empty(d)
        return X_syn, y_syn, None
    if name == "ros":
        X_res, y_res = _build("ros", k, k, random_state, sampling_strategy).fit_resample(X, y)
        # Copy so the returned rows do not keep the resampled originals alive.
        return X_res[n:].copy(), y_res[n:].astype(np.int64), None
    if name == "eos":
        if k >= n:
            warnings.warn(f"k_neighbors={k} reduced to {n - 1} for EOS: only {n} samples.", stacklevel=2)
            k = n - 1
        eos = _build("eos", k, k, random_state, sampling_strategy)
        X_syn, y_syn = eos.fit_generate(X, y)
        prov = {key: v.copy() for key, v in eos.provenance_.items()}
        return X_syn, y_syn.astype(np.int64, copy=False), prov

    # SMOTE family: group the classes to fill by their usable k.
    targets = check_sampling_strategy(sampling_strategy, y, "over-sampling")
    size = dict(zip(classes.tolist(), counts.tolist()))
    groups: dict[int, dict] = {}
    singletons = []
    for label, n_gen in targets.items():
        if n_gen <= 0:
            continue
        if size[label] == 1:
            singletons.append((label, n_gen))
        else:
            k_eff = min(k, size[label] - 1)
            groups.setdefault(k_eff, {})[label] = size[label] + n_gen
    m = min(k, n - 1)
    # The first call gets random_state as given, so the common single-group case reproduces
    # make_sampler(name, random_state=seed).fit_resample exactly; later calls (other k, ADASYN
    # retries) get seeds drawn from it in a fixed order -> deterministic for an int seed.
    rng = check_random_state(random_state)
    calls = [0]
    xs, ys = [], []

    def run(k_eff, strategy):
        seed = random_state if calls[0] == 0 else rng.randint(np.iinfo(np.int32).max)
        calls[0] += 1
        sampler = _build(name, k_eff, m, seed, strategy)
        X_res, y_res = sampler.fit_resample(X, y)
        xs.append(X_res[n:])
        ys.append(y_res[n:])

    for k_eff in sorted(groups, reverse=True):
        strategy = groups[k_eff]
        if name != "adasyn":
            run(k_eff, strategy)
            continue
        try:
            run(k_eff, strategy)
        except ConfigError:
            raise
        except (RuntimeError, ValueError):
            # Find the classes ADASYN cannot handle by running them one at a time.
            for label, target in strategy.items():
                try:
                    run(k_eff, {label: target})
                except ConfigError:
                    raise
                except (RuntimeError, ValueError) as err:
                    warnings.warn(
                        f"ADASYN generated no samples for class {label}: {err}", stacklevel=2
                    )
    if singletons:
        warnings.warn(
            f"{name}: class(es) {', '.join(str(c) for c, _ in singletons)} have a single sample, "
            "which cannot be interpolated; they are filled with copies (random over-sampling).",
            stacklevel=2,
        )
        for label, n_gen in singletons:
            row = int(np.flatnonzero(y == label)[0])
            xs.append(np.repeat(X[row : row + 1], n_gen, axis=0))
            ys.append(np.full(n_gen, label, dtype=np.int64))
    if not xs:
        X_syn, y_syn = _empty(d)
        return X_syn, y_syn, None
    X_syn = np.concatenate(xs).astype(np.float32, copy=False)
    y_syn = np.concatenate(ys).astype(np.int64, copy=False)
    return X_syn, y_syn, None
