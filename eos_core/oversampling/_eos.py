"""Expansive Over-Sampling (Dablain, Bellinger, Krawczyk & Chawla, 2022, arXiv:2207.06080).

:class:`EOS` is an imbalanced-learn sampler: synthetic points are drawn on the segment from a
*border* sample of the class to one of its nearest *enemies* (other-class points), which expands
the class's region towards the decision boundary.

Two partner rules are offered (``partner_rule``):

* ``"enemy"`` (default) — the paper's description: the partner is the drawn enemy itself.
* ``"published"`` — the public reference code (dd1github/EOS, ``EOS.py``): the enemy's *column* is
  drawn among the base's k neighbours (self excluded), but the partner is read from a neighbour
  table that still holds the base itself in column 0. The partner is therefore the neighbour one
  rank closer than the drawn enemy — the base itself when the enemy is its first neighbour — and
  is often a same-class point. The paper's published numbers came from that code, so the app
  compares both. :func:`partner_share` measures how often each kind of partner occurs.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import check_target_type
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn_compat.utils.validation import validate_data

from ..errors import ConfigError
from ..neighbors._factory import drop_self, make_nn_estimator, nearest_enemies
from ._checks import (
    all_finite,
    check_fit_X_y,
    check_k,
    check_strategy_fits,
    first_sentence,
    lower_first,
    validate_params,
)

__all__ = ["EOS", "PARTNER_RULES", "partner_share"]

# "enemy": the paper; "published": the reference code's shifted column (see the module docstring).
PARTNER_RULES = ("enemy", "published")

# Rows interpolated per block: the two gathered (block, D) operands then stay in L2 cache instead
# of materialising three (S, D) temporaries (S can be several times N).
_BLOCK_BYTES = 1 << 20


def _check_rule(rule) -> str:
    if rule not in PARTNER_RULES:
        raise ConfigError(f"partner_rule must be one of {', '.join(PARTNER_RULES)}, got {rule!r}.")
    return rule


def _check_two_classes(y: np.ndarray) -> None:
    n_classes = len(np.unique(y))
    if n_classes < 2:
        raise ConfigError(f"EOS needs at least two classes to find enemies, but y has {n_classes} "
                          f"class{'' if n_classes == 1 else 'es'}.")


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

    With ``partner_rule="published"`` the bases and the drawn enemy column are the same, but the
    partner is the neighbour one rank closer than that enemy (the base itself when the enemy is the
    base's first neighbour), as in the public reference code. The fallback above is the same under
    both rules (the reference code has none: it fails on such a class).

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        How many points each class gets, as in imbalanced-learn (``"auto"`` fills every class but
        the majority up to the majority count).
    random_state : int, RandomState instance or None, default=None
        Seed of the draws; an int makes the output deterministic.
    k_neighbors : int, default=10
        Neighbourhood size (the paper's k).
    partner_rule : {"enemy", "published"}, default="enemy"
        ``"enemy"``: the paper's description (the partner is the drawn enemy). ``"published"``:
        the reference code's partner (one neighbour rank closer; see the module docstring).
    nn_estimator : KNeighborsMixin-like estimator or None, default=None
        Neighbour search to use; it is cloned, given ``n_neighbors=k_neighbors + 1`` (the point
        itself plus k, as imbalanced-learn's ``nn_k_``), fitted on all of ``X`` and queried with
        the rows of the classes to fill; each point's own row is then dropped.
        ``None`` uses :func:`~eos_core.neighbors.make_nn_estimator` (faiss, or torch on a GPU without faiss-gpu).

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
        "partner_rule": [StrOptions(set(PARTNER_RULES))],
    }

    def __init__(self, *, sampling_strategy="auto", random_state=None, k_neighbors=10, partner_rule="enemy",
                 nn_estimator=None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.k_neighbors = k_neighbors
        self.partner_rule = partner_rule
        self.nn_estimator = nn_estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Dense only: the neighbour search and the interpolation work on dense float arrays (a
        # sparse X is refused), so scikit-learn's and imbalanced-learn's checks must not expect it.
        tags.input_tags.sparse = False
        return tags

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
        self._check_fit_args(X, y)
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
        self._check_fit_args(X, y)
        X, y, _ = self._check_X_y(X, y)
        self.sampling_strategy_ = check_strategy_fits(self.sampling_strategy, y, self._sampling_type)
        base, partner, r, y_syn = self._plan(X, y)
        X_syn = np.empty((len(base), X.shape[1]), dtype=X.dtype)
        _interpolate(X, base, partner, r, X_syn)
        return X_syn, y_syn

    def _check_fit_args(self, X, y) -> None:
        """Every argument of a fit, as one ConfigError sentence, before imbalanced-learn's checks.

        Parameters first, then shapes and label type, then whether ``sampling_strategy`` fits the
        labels (a dict naming a class y lacks, a float with more than two classes).
        """
        check_k(self.k_neighbors)
        _check_rule(self.partner_rule)
        validate_params(self)
        check_fit_X_y(X, y, "EOS")
        y_arr = np.asarray(y)
        # A (n, 1) column is read as labels without check_target_type's conversion warning: the
        # sampler's own check warns once already.
        y_1d = y_arr.ravel() if y_arr.ndim == 2 and y_arr.shape[1] == 1 else check_target_type(y_arr)
        _check_two_classes(y_1d)
        check_strategy_fits(self.sampling_strategy, y_1d, self._sampling_type)

    # -- imbalanced-learn hooks ---------------------------------------------------------------
    def _check_X_y(self, X, y, accept_sparse=None):
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        # Keep float32 as float32 (embeddings) and float64 as float64; anything else -> float64.
        try:
            X, y = validate_data(
                self, X=X, y=y, reset=True, accept_sparse=False, dtype=[np.float64, np.float32],
                ensure_all_finite=False,
            )
        except ValueError as err:  # text in X, complex numbers...: sklearn's first sentence only
            raise ConfigError(f"EOS cannot use this X: {lower_first(first_sentence(str(err)))}") from None
        if not all_finite(X):
            raise ConfigError("The embeddings passed to EOS contain NaN or infinite values.")
        _check_two_classes(y)
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
        nn = make_nn_estimator() if self.nn_estimator is None else clone(self.nn_estimator)
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
        if self.partner_rule == "published":
            # The reference code indexes a table whose column 0 is the base itself with this
            # self-excluded column: it reads column col - 1 of our table, or the base at col 0.
            partner[regular] = np.where(col == 0, base[regular], table[tr, np.maximum(col - 1, 0)])
        else:
            partner[regular] = table[tr, col]
        r = gen.random(n_syn, dtype=np.float32)

        self.provenance_ = {"base": base, "partner": partner, "r": r}
        return base, partner, r, np.concatenate(labels)




def partner_share(y: np.ndarray, base: np.ndarray, partner: np.ndarray) -> dict[str, float] | None:
    """Share of synthetic points whose partner is an enemy, the base itself, or a same-class point.

    Parameters
    ----------
    y : ndarray of shape (N,)
        Labels of the rows ``base`` and ``partner`` index.
    base, partner : ndarray of shape (S,), int
        Provenance of the synthetic points (rows into ``y``).

    Returns
    -------
    dict or None
        ``{"enemy": .., "self": .., "same_class": ..}`` (each in [0, 1], summing to 1), or ``None``
        when there are no synthetic points. ``"self"`` counts partners that are the base's own row;
        ``"same_class"`` other rows of the base's class.
    """
    y = np.asarray(y)
    base = np.asarray(base, dtype=np.int64)
    partner = np.asarray(partner, dtype=np.int64)
    if len(base) == 0:
        return None
    is_self = partner == base
    enemy = y[partner] != y[base]
    n = len(base)
    return {"enemy": float(enemy.sum() / n), "self": float(is_self.sum() / n),
            "same_class": float((~enemy & ~is_self).sum() / n)}
