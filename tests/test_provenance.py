"""Provenance of SMOTE, Borderline-SMOTE, ADASYN and ROS, observed in imbalanced-learn's own generation."""

from __future__ import annotations

import numpy as np
import pytest
from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE, RandomOverSampler

from eos_core.neighbors import FaissNearestNeighbors
from eos_core.oversampling import concat_provenance, copies_provenance, fit_resample_with_provenance, reconstruct


def _data(seed: int = 0):
    """Three overlapping float32 blobs of 200, 30 and 12 rows, shuffled (class rows are not contiguous)."""
    rng = np.random.default_rng(seed)
    sizes = (200, 30, 12)
    X = np.concatenate([rng.normal(i * 1.2, 1.0, (n, 5)) for i, n in enumerate(sizes)]).astype(np.float32)
    y = np.repeat(np.arange(3), sizes)
    order = rng.permutation(len(y))
    return X[order], y[order]


SAMPLERS = {
    "smote": lambda: SMOTE(random_state=7, k_neighbors=5),
    "smote-faiss": lambda: SMOTE(random_state=7, k_neighbors=FaissNearestNeighbors(n_neighbors=6)),
    "bsmote": lambda: BorderlineSMOTE(random_state=7, k_neighbors=5, m_neighbors=10, kind="borderline-1"),
    "adasyn": lambda: ADASYN(random_state=7, n_neighbors=5),
    "adasyn-faiss": lambda: ADASYN(random_state=7, n_neighbors=FaissNearestNeighbors(n_neighbors=6)),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_rows_equal_imblearn_and_reconstruct(name):
    X, y = _data()
    X_ref, y_ref = SAMPLERS[name]().fit_resample(X, y)
    X_res, y_res, prov = fit_resample_with_provenance(SAMPLERS[name](), X, y, exact_r=True)
    # The observed run is imbalanced-learn's run: same rows, bit for bit.
    assert X_res.dtype == X_ref.dtype == np.float32
    np.testing.assert_array_equal(X_res, X_ref)
    np.testing.assert_array_equal(y_res, y_ref)
    n, s = len(X), len(X_res) - len(X)
    assert s > 0
    assert prov["base"].shape == prov["partner"].shape == prov["r"].shape == (s,)
    assert prov["r"].dtype == np.float64
    # Base and partner are rows of the full X of the synthetic row's class (within-class interpolation).
    np.testing.assert_array_equal(y[prov["base"]], y_res[n:])
    np.testing.assert_array_equal(y[prov["partner"]], y_res[n:])
    assert np.all((prov["r"] >= 0) & (prov["r"] < 1))
    assert np.all(prov["base"] != prov["partner"])  # distinct rows: the data have no duplicates
    # With float64 r and imbalanced-learn's order of operations the reconstruction is exact.
    np.testing.assert_array_equal(reconstruct(X, prov), X_res[n:])
    # The float32 record (the EOS format) reconstructs to float32 rounding.
    prov32 = {**prov, "r": prov["r"].astype(np.float32)}
    np.testing.assert_allclose(reconstruct(X, prov32), X_res[n:], rtol=0, atol=1e-5)


def test_default_record_is_float32_and_seeded_rng_advances_as_without_recording():
    X, y = _data(1)
    rs_a, rs_b = np.random.RandomState(3), np.random.RandomState(3)
    X_ref, _ = ADASYN(random_state=rs_a, n_neighbors=5).fit_resample(X, y)
    sampler = ADASYN(random_state=rs_b, n_neighbors=5)
    X_res, _, prov = fit_resample_with_provenance(sampler, X, y)
    np.testing.assert_array_equal(X_res, X_ref)
    assert prov["r"].dtype == np.float32
    assert rs_a.randint(1 << 30) == rs_b.randint(1 << 30)
    assert sampler.random_state is rs_b
    # The wrappers are gone: a second plain call reproduces a plain sampler.
    assert "_validate_estimator" not in sampler.__dict__
    assert type(sampler.nn_).__name__ != "_RecordingNeighbors"


def test_bsmote_bases_are_danger_rows():
    X, y = _data(2)
    sampler = BorderlineSMOTE(random_state=0, k_neighbors=5, m_neighbors=10)
    _, _, prov = fit_resample_with_provenance(sampler, X, y)
    danger = np.concatenate(list(sampler.in_danger_indices.values()))
    assert set(prov["base"].tolist()) <= set(danger.tolist())
    assert "_generate_samples" not in sampler.__dict__


def test_random_oversampler_records_copies():
    X, y = _data(3)
    X_res, y_res, prov = fit_resample_with_provenance(RandomOverSampler(random_state=0), X, y)
    n = len(X)
    np.testing.assert_array_equal(X[prov["base"]], X_res[n:])
    np.testing.assert_array_equal(prov["base"], prov["partner"])
    np.testing.assert_array_equal(prov["r"], np.zeros(len(X_res) - n, np.float32))


def test_borderline2_is_refused():
    X, y = _data()
    with pytest.raises(ValueError, match="borderline-1"):
        fit_resample_with_provenance(BorderlineSMOTE(kind="borderline-2"), X, y)


def test_concat_and_copies():
    a = copies_provenance(4, 2)
    np.testing.assert_array_equal(a["base"], [4, 4])
    np.testing.assert_array_equal(a["r"], [0.0, 0.0])
    b = {"base": np.array([1]), "partner": np.array([2]), "r": np.array([0.5], np.float32)}
    c = concat_provenance([a, b])
    np.testing.assert_array_equal(c["base"], [4, 4, 1])
    np.testing.assert_array_equal(c["partner"], [4, 4, 2])
    np.testing.assert_array_equal(c["r"], np.array([0, 0, 0.5], np.float32))
    empty = concat_provenance([])
    assert empty["base"].shape == (0,) and empty["r"].dtype == np.float32
