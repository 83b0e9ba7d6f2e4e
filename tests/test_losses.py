"""Cost-sensitive losses: values against hand computations, schedules, gradients, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eos_core.errors import ConfigError
from eos_core.phase1 import (
    LDAMDRWLoss,
    build_loss,
    drw_start_epoch,
    effective_number_weights,
    ldam_margins,
)

COUNTS = [500, 120, 30, 5]


def _batch(seed: int = 0, n: int = 16, c: int = 4):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g) * 3, torch.randint(0, c, (n,), generator=g)


def test_ce_equals_cross_entropy():
    logits, target = _batch()
    loss = build_loss("ce", COUNTS, epochs=10)
    assert loss.weight is None
    torch.testing.assert_close(loss(logits, target), F.cross_entropy(logits, target))


def test_focal_gamma0_is_ce():
    logits, target = _batch(1)
    loss = build_loss("focal", COUNTS, epochs=10, focal_gamma=0.0)
    torch.testing.assert_close(loss(logits, target), F.cross_entropy(logits, target))


def test_focal_gamma2_hand_computed():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, -1.0]])
    target = torch.tensor([0, 2])
    p0 = math.exp(2) / (math.exp(2) + 2)  # true-class probabilities
    p1 = math.exp(-1) / (1 + math.e + math.exp(-1))
    expected = ((1 - p0) ** 2 * -math.log(p0) + (1 - p1) ** 2 * -math.log(p1)) / 2
    loss = build_loss("focal", [10, 10, 10], epochs=5)
    assert loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_ldam_margins_follow_quarter_power():
    m = ldam_margins(COUNTS)
    assert m.max() == pytest.approx(0.5) and m.argmax() == 3  # rarest class gets the max margin
    expected = 0.5 * (np.array(COUNTS, float) / min(COUNTS)) ** -0.25
    np.testing.assert_allclose(m, expected, rtol=1e-12)
    np.testing.assert_allclose(m * np.array(COUNTS, float) ** 0.25, 0.5 * 5**0.25)  # m_j * n_j^(1/4) constant
    loss = build_loss("ldam_drw", COUNTS, epochs=10)
    np.testing.assert_allclose(loss.margins.numpy(), expected, rtol=1e-6)


def _ldam_by_hand(scale: float) -> float:
    # counts [100, 1]: margins 0.5 * [100^-1/4, 1] = [0.158114, 0.5]
    m0, m1 = 0.5 * 100**-0.25, 0.5
    # sample 0: logits [1, 2], class 0 -> true logit 1 - m0
    a = scale * (1.0 - m0), scale * 2.0
    l0 = -a[0] + math.log(math.exp(a[0]) + math.exp(a[1]))
    # sample 1: logits [0.5, -0.5], class 1 -> true logit -0.5 - m1
    b = scale * 0.5, scale * (-0.5 - m1)
    l1 = -b[1] + math.log(math.exp(b[0]) + math.exp(b[1]))
    return (l0 + l1) / 2


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_ldam_hand_computed(scale):
    logits = torch.tensor([[1.0, 2.0], [0.5, -0.5]])
    target = torch.tensor([0, 1])
    loss = LDAMDRWLoss([100, 1], epochs=10, scale=scale)
    assert loss(logits, target).item() == pytest.approx(_ldam_by_hand(scale), rel=1e-5)
    if scale == 1.0:  # build_loss's choice for plain linear heads (see the losses module docstring)
        assert build_loss("ldam_drw", [100, 1], epochs=10)(logits, target).item() == pytest.approx(
            _ldam_by_hand(1.0), rel=1e-5
        )


def test_drw_switches_at_the_right_epoch():
    assert drw_start_epoch(200, 0.8) == 160  # the paper's schedule
    assert drw_start_epoch(10, 0.7) == 7  # float noise: 0.7 * 10 = 7.000000000000001
    assert drw_start_epoch(7, 0.8) == 6  # first epoch >= 5.6
    loss = build_loss("ldam_drw", COUNTS, epochs=10, drw_frac=0.8)
    logits, target = _batch(2)
    for epoch in range(10):
        loss.set_epoch(epoch)
        assert (loss.weight is None) == (epoch < 8), epoch
    loss.set_epoch(7)
    adjusted = logits - loss.margins[target].unsqueeze(1) * F.one_hot(target, 4)
    torch.testing.assert_close(loss(logits, target), F.cross_entropy(adjusted, target))
    loss.set_epoch(8)
    w = torch.tensor(effective_number_weights(COUNTS), dtype=torch.float32)
    torch.testing.assert_close(loss.weight, w)
    torch.testing.assert_close(loss(logits, target), F.cross_entropy(adjusted, target, weight=w))


def test_cb_weights_equal_effective_number_formula():
    counts = [1000, 100, 10]
    beta = 0.9999
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    expected = [r / sum(raw) * 3 for r in raw]
    np.testing.assert_allclose(effective_number_weights(counts), expected, rtol=1e-12)
    assert effective_number_weights(counts).sum() == pytest.approx(3.0)
    loss = build_loss("cb", counts, epochs=10)
    np.testing.assert_allclose(loss.weight.numpy(), expected, rtol=1e-6)
    for epoch in (0, 9):  # from the start, and unchanged by the schedule
        loss.set_epoch(epoch)
        logits, target = _batch(3, c=3)
        torch.testing.assert_close(loss(logits, target), F.cross_entropy(logits, target, weight=loss.weight))


@pytest.mark.parametrize("name", ["ce", "focal", "ldam_drw", "cb"])
def test_all_losses_give_finite_gradients(name):
    loss = build_loss(name, COUNTS, epochs=4, drw_frac=0.5)
    for epoch, scale in [(0, 1.0), (3, 1.0), (3, 200.0)]:  # before/after DRW, extreme logits
        loss.set_epoch(epoch)
        logits, target = _batch(epoch)
        logits = (logits * scale).requires_grad_()
        value = loss(logits, target)
        value.backward()
        assert value.ndim == 0 and torch.isfinite(value)
        assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_zero_count_classes_are_treated_as_one_sample():
    counts = [50, 0, 5]
    w = effective_number_weights(counts)
    assert np.isfinite(w).all()
    np.testing.assert_allclose(w, effective_number_weights([50, 1, 5]))
    np.testing.assert_allclose(ldam_margins(counts), ldam_margins([50, 1, 5]))
    for name in ("ldam_drw", "cb"):
        loss = build_loss(name, counts, epochs=2, drw_frac=0.0)
        logits, target = _batch(4, c=3)
        assert torch.isfinite(loss(logits, target))


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError):
        build_loss("mse", COUNTS, epochs=10)
    with pytest.raises(ConfigError):
        build_loss("cb", [10, -1], epochs=10)
    with pytest.raises(ConfigError):
        build_loss("ce", [], epochs=10)
    with pytest.raises(ConfigError):
        build_loss("ldam_drw", COUNTS, epochs=10, drw_frac=1.5)
    with pytest.raises(ConfigError):
        build_loss("focal", COUNTS, epochs=10, focal_gamma=-1.0)


def test_loss_buffers_follow_the_module():
    loss = build_loss("ldam_drw", COUNTS, epochs=2, drw_frac=0.5, device="cpu")
    loss.set_epoch(1)
    moved = loss.to(torch.float64)
    assert moved.weight.dtype == torch.float64  # the active weight is read from the moved buffer
    assert {"margins", "drw_weight"} <= set(dict(loss.named_buffers()))
