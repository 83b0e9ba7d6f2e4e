import numpy as np
import pytest

from eos_core.data import class_counts, make_imbalanced
from eos_core.errors import ConfigError


def test_cifar10_exp_rho100_exact_counts():
    assert class_counts([5000] * 10, 100, "exp").tolist() == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def test_step_profile_second_half_at_nmax_over_rho():
    assert class_counts([5000] * 10, 100, "step").tolist() == [5000] * 5 + [50] * 5


def test_ratio_one_keeps_balance_and_cap_applies():
    assert class_counts([600] * 4, 1.0).tolist() == [600] * 4
    assert class_counts([6000] * 10, 100, max_per_class=1000).tolist() == [1000, 599, 359, 215, 129, 77, 46, 27, 16, 10]


def test_class_order_puts_largest_first():
    counts = class_counts([5000] * 10, 100, class_order=[9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    assert counts.tolist() == [50, 83, 139, 232, 387, 645, 1077, 1796, 2997, 5000]


def test_never_more_than_available_and_at_least_one_with_warning():
    with pytest.warns(UserWarning, match="keeping one sample"):
        counts = class_counts([100, 100, 100], 1000)
    assert counts.tolist() == [100, 3, 1]
    assert class_counts([100, 20, 100], 2).tolist() == [100, 20, 50]


@pytest.mark.parametrize("ratio", [0.5, 0, -3, 1001, float("nan"), float("inf")])
def test_ratio_out_of_range_is_a_clear_error(ratio):
    with pytest.raises(ConfigError, match="between 1 and 1000"):
        class_counts([10, 10], ratio)


def test_bad_profile_and_order():
    with pytest.raises(ConfigError, match="profile"):
        class_counts([10, 10], 2, "linear")
    with pytest.raises(ConfigError, match="permutation"):
        class_counts([10, 10, 10], 2, class_order=[0, 0, 1])


def test_make_imbalanced_is_deterministic_and_exact():
    rng = np.random.default_rng(1)
    y = rng.permutation(np.repeat(np.arange(5), 200))
    a = make_imbalanced(y, 10, "exp", seed=3)
    b = make_imbalanced(y, 10, "exp", seed=3)
    c = make_imbalanced(y, 10, "exp", seed=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all(np.diff(a) > 0)
    assert np.bincount(y[a], minlength=5).tolist() == class_counts([200] * 5, 10).tolist() == [200, 112, 63, 35, 20]
    assert np.bincount(y[c], minlength=5).tolist() == [200, 112, 63, 35, 20]


def test_as_is_keeps_the_dataset_counts_and_ignores_ratio_and_order():
    assert class_counts([5000, 120, 7], 100, "as_is").tolist() == [5000, 120, 7]
    assert class_counts([5000, 120, 7], 1, "as_is", class_order=[2, 1, 0]).tolist() == [5000, 120, 7]
    assert class_counts([5000, 120, 7], 100, "as_is", max_per_class=100).tolist() == [100, 100, 7]
    y = np.repeat(np.arange(3), [6, 2, 3])
    assert make_imbalanced(y, 50, "as_is", seed=1).tolist() == list(range(11))
    assert np.bincount(y[make_imbalanced(y, 50, "as_is", max_per_class=2, seed=1)]).tolist() == [2, 2, 2]


def test_as_is_is_a_valid_profile_everywhere():
    from eos_core.config import DataConfig
    from eos_core.names import PROFILE_LABELS, PROFILES

    assert "as_is" in PROFILES and "ignored" in PROFILE_LABELS["as_is"]
    DataConfig(dataset="folder", folder="x", profile="as_is", ratio=100).validate()
    with pytest.raises(ConfigError, match="between 1 and 1000"):  # still range-checked, though ignored
        DataConfig(profile="as_is", ratio=0).validate()


def test_messages_name_classes_when_names_are_given():
    with pytest.raises(ConfigError, match=r"Class\(es\) 'dog' have no training samples"):
        class_counts([5, 0, 3], 2, class_names=["cat", "dog", "emu"])
    with pytest.warns(UserWarning, match=r"class\(es\) 'emu' empty"):
        class_counts([100, 100, 100], 1000, class_names=["cat", "dog", "emu"])
