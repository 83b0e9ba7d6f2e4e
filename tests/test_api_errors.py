"""Misuse of the engine API ends in one ConfigError sentence, never a raw library exception.

Each case of issue 15's table ("Raw exceptions from the engine API") with its exact sentence, a few
neighbours of each, and scikit-learn's / imbalanced-learn's estimator checks: ``ConfigError`` is a
``ValueError``, so the estimator contract (bad input raises ``ValueError``) still holds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from eos_core.config import RunConfig, check_seed
from eos_core.data import load_dataset, make_imbalanced
from eos_core.errors import ConfigError
from eos_core.oversampling import EOS, make_sampler, resample

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 4)).astype(np.float32)
Y = np.r_[np.zeros(40, np.int64), np.ones(20, np.int64)]
Y3 = np.r_[np.zeros(30, np.int64), np.ones(20, np.int64), np.full(10, 2)]
STRATEGY_SENTENCE = ("sampling_strategy must be one of 'auto', 'all', 'minority', 'not minority', 'not majority', "
                     "a float in (0, 1], a dict {class: count} or a callable, got 'bogus'.")

CASES = {
    # -- the table
    "EOS 1-D X": (lambda: EOS().fit_resample(X[:, 0], Y),
                  "EOS needs X as a 2-D array (n_samples, n_features), got shape (60,); "
                  "a single feature is X.reshape(-1, 1)."),
    "EOS empty X": (lambda: EOS().fit_resample(np.empty((0, 4)), np.empty(0, np.int64)),
                    "EOS needs at least one sample and one feature, got X of shape (0, 4)."),
    "EOS float labels": (lambda: EOS().fit_resample(X, Y + 0.25),
                         "EOS needs class labels, but y holds continuous values such as 0.25; "
                         "pass integer or string class ids."),
    "EOS length mismatch": (lambda: EOS().fit_resample(X, Y[:-1]),
                            "X has 60 rows but y has 59 labels; give one label per row."),
    "EOS bogus strategy": (lambda: EOS(sampling_strategy="bogus").fit_resample(X, Y), STRATEGY_SENTENCE),
    "make_imbalanced negative label": (lambda: make_imbalanced(np.array([-1, 0, 1, 1]), 2.0),
                                       "The labels must be class ids from 0 to C-1, got a label of -1."),
    "make_imbalanced seed -1": (lambda: make_imbalanced(Y, 2.0, seed=-1),
                                "The seed must be an integer in [0, 4294967295], got -1."),
    "load_dataset(None)": (lambda: load_dataset(None),
                           "The dataset must be a name, one of digits, mnist, fashion-mnist, cifar10, svhn, folder; "
                           "got None."),
    "with_seed('a')": (lambda: RunConfig().with_seed("a"),
                       "The seed must be an integer in [0, 4294967295], got 'a'."),
    # -- neighbours: the same mistakes through the other entry points
    "EOS fit_generate bogus strategy": (lambda: EOS(sampling_strategy="bogus").fit_generate(X, Y), STRATEGY_SENTENCE),
    "EOS y None": (lambda: EOS().fit_resample(X, None), "EOS needs the class labels y, got None."),
    "EOS one class": (lambda: EOS().fit_resample(X, np.zeros(60, np.int64)),
                      "EOS needs at least two classes to find enemies, but y has 1 class."),
    "EOS multilabel y": (lambda: EOS().fit_resample(X, np.ones((60, 2), np.int64)),
                         "EOS supports one label per sample (binary, multiclass or one-hot encoded), not multilabel "
                         "or multioutput targets."),
    "EOS sparse X": (lambda: EOS().fit_resample(__import__("scipy.sparse").sparse.csr_matrix(X), Y),
                     "EOS needs a dense X; convert a sparse matrix with X.toarray()."),
    "EOS text X": (lambda: EOS().fit_resample(np.array([["a", "b"]] * 60), Y),
                   "EOS cannot use this X: could not convert string to float: np.str_('a')."),
    "EOS random_state text": (lambda: EOS(random_state="x").fit_resample(X, Y),
                              "random_state must be an int in the range [0, 4294967295], an instance of "
                              "'numpy.random.mtrand.RandomState' or None, got 'x'."),
    "EOS float strategy, 3 classes": (lambda: EOS(sampling_strategy=0.5).fit_resample(X, Y3),
                                      "sampling_strategy=0.5 does not fit these labels (sampling_strategy can be a "
                                      "float only when the type of target is binary; for multi-class, use a dict)."),
    "EOS dict strategy, absent class": (lambda: EOS(sampling_strategy={5: 100}).fit_resample(X, Y),
                                        "sampling_strategy={5: 100} does not fit these labels (the {5} target class "
                                        "is/are not present in the data)."),
    "resample SMOTE bogus strategy": (lambda: resample("smote", X, Y, sampling_strategy="bogus"), STRATEGY_SENTENCE),
    "resample ROS absent class": (lambda: resample("ros", X, Y, sampling_strategy={5: 100}),
                                  "sampling_strategy={5: 100} does not fit these labels (the {5} target class "
                                  "is/are not present in the data)."),
    "resample 1-D X": (lambda: resample("eos", X[:, 0], Y),
                       "Over-sampling needs X as a 2-D array (n_samples, n_features), got shape (60,); "
                       "a single feature is X.reshape(-1, 1)."),
    "resample text X": (lambda: resample("smote", [["a", "b"]] * 60, Y),
                        "The embeddings to over-sample must be numbers."),
    "make_sampler bogus strategy": (lambda: make_sampler("smote", sampling_strategy="bogus"), STRATEGY_SENTENCE),
    "make_imbalanced float labels": (lambda: make_imbalanced(Y.astype(float), 2.0),
                                     "The labels must be integer class ids 0..C-1, got dtype float64."),
    "make_imbalanced label >= num_classes": (lambda: make_imbalanced(np.array([0, 1, 5]), 2.0, num_classes=3),
                                             "The labels must be class ids from 0 to 2, got a label of 5."),
    "make_imbalanced empty": (lambda: make_imbalanced(np.empty(0, np.int64), 2.0),
                              "The labels must be a non-empty 1-D array of class ids, got shape (0,)."),
    "make_imbalanced seed 2**32": (lambda: make_imbalanced(Y, 2.0, seed=2**32),
                                   "The seed must be an integer in [0, 4294967295], got 4294967296."),
    "load_dataset folder as int": (lambda: load_dataset("folder", folder=5),
                                   "folder must be a path (a string), got int."),
    "load_dataset data_dir as int": (lambda: load_dataset("mnist", data_dir=5),
                                     "data_dir must be a path (a string), got int."),
    "load_dataset image_size 0": (lambda: load_dataset("folder", folder="x", image_size=0),
                                  "image_size must be an integer number of pixels in [8, 512], got 0."),
    "with_seed float": (lambda: RunConfig().with_seed(3.0), "The seed must be an integer in [0, 4294967295], got 3.0."),
    "with_seed True": (lambda: RunConfig().with_seed(True),
                       "The seed must be an integer in [0, 4294967295], got True."),
    "with_seed 2**32": (lambda: RunConfig().with_seed(2**32),
                        "The seed must be an integer in [0, 4294967295], got 4294967296."),
}


@pytest.mark.parametrize("name", list(CASES))
def test_api_misuse_is_one_config_error_sentence(name):
    call, sentence = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's DataConversionWarning etc. are not the subject here
        with pytest.raises(ConfigError) as err:
            call()
    assert str(err.value) == sentence
    assert isinstance(err.value, ValueError)  # scikit-learn's contract: bad input is a ValueError


def test_valid_seeds_are_kept_as_ints():
    assert check_seed(np.int64(7)) == 7 and type(check_seed(np.int64(7))) is int
    cfg = RunConfig().with_seed(2**32 - 1)
    assert (cfg.data.seed, cfg.train.seed, cfg.head.seed) == (2**32 - 1,) * 3


def test_valid_calls_still_resample():
    X_res, y_res = EOS(k_neighbors=3, random_state=0).fit_resample(X, Y)
    assert X_res.shape == (80, 4) and np.bincount(y_res).tolist() == [40, 40]
    # a one-hot y is accepted and returned one-hot (imbalanced-learn's behaviour)
    _, y_ova = EOS(k_neighbors=3, random_state=0).fit_resample(X, np.eye(3, dtype=np.int64)[Y3])
    assert y_ova.shape == (90, 3) and y_ova.sum(axis=0).tolist() == [30, 30, 30]
    idx = make_imbalanced(Y3, 3.0, seed=0)
    assert np.bincount(Y3[idx]).tolist() == [30, 17, 10]


def test_scikit_learn_estimator_checks_pass():
    from sklearn.utils.estimator_checks import check_estimator

    # k=3: scikit-learn's checks fit on 10 samples, and EOS refuses k >= n_samples.
    results = check_estimator(EOS(k_neighbors=3, random_state=0), on_fail=None, on_skip=None)
    failed = {r["check_name"]: str(r["exception"]).splitlines()[:1] for r in results if r["status"] == "failed"}
    assert failed == {}
    assert sum(r["status"] == "passed" for r in results) >= 40


def test_imbalanced_learn_sampler_checks_pass():
    from imblearn.utils.estimator_checks import estimator_checks_generator

    failed = {}
    for est, check in estimator_checks_generator(EOS(k_neighbors=3, random_state=0), legacy=True):
        name = getattr(check, "func", check).__name__
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                check(est)
            except Exception as err:  # noqa: BLE001 - collect every failing check
                failed[name] = str(err)
    # imbalanced-learn runs its pandas-sparse check for every sampler that takes a DataFrame,
    # whatever the sparse tag says; EOS is dense only and says so in one sentence.
    assert failed == {"check_samplers_pandas_sparse": "EOS needs a dense X; convert a sparse matrix with X.toarray()."}
