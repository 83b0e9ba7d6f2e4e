"""EOS as published (the reference code's partner choice) against the paper's rule, on a hand-made 2-D set."""

from __future__ import annotations

import numpy as np
import pytest

from eos_core.errors import ConfigError
from eos_core.oversampling import EOS, make_sampler, partner_share, resample

# Class 1 (5 points) is filled; class 0 (8 points) is the majority. With k = 3 the self-excluded
# neighbour lists are (distances in brackets, E = enemy, S = same class):
#   row 0 (0, 0):     5 E (1),   1 S (2),     6 E (3)
#   row 1 (0, 2):     0 S (2),   5 E (2.24),  6 E (3.61)
#   row 2 (100, 0):   3 S (1),   7 E (2),     4 S (3.5)
#   row 3 (101, 0):   2 S (1),   7 E (2.24),  4 S (3.64)
#   row 4 (100, 3.5): 8 E (1.5), 2 S (3.5),   3 S (3.64)
X = np.array([
    [0, 0], [0, 2], [100, 0], [101, 0], [100, 3.5],          # class 1
    [1, 0], [-3, 0], [100, -2], [100, 5],                    # class 0 near class 1
    [-50, 50], [-51, 50], [-50, 51], [-51, 51],              # class 0 far away
], dtype=np.float32)
y = np.array([1] * 5 + [0] * 8)
K = 3
# (base, enemy drawn) -> partner of the published code: the neighbour one rank closer than the
# enemy, or the base itself when the enemy is the first neighbour.
PUBLISHED = {(0, 5): 0, (0, 6): 1, (1, 5): 0, (1, 6): 5, (2, 7): 3, (3, 7): 2, (4, 8): 4}
N_SYN = 20000


def _fit(rule: str):
    eos = EOS(k_neighbors=K, random_state=7, partner_rule=rule, sampling_strategy={1: 5 + N_SYN})
    X_syn, y_syn = eos.fit_generate(X, y)
    return eos, X_syn, y_syn


def test_paper_rule_pairs_each_base_with_its_enemies():
    eos, _, _ = _fit("enemy")
    pairs = set(zip(eos.provenance_["base"].tolist(), eos.provenance_["partner"].tolist(), strict=True))
    assert pairs == set(PUBLISHED)  # every (base, enemy) pair occurs, nothing else


def test_published_rule_reads_the_partner_one_rank_closer():
    paper, _, _ = _fit("enemy")
    pub, X_syn, y_syn = _fit("published")
    # Same seed -> the same bases, enemy columns and steps; only the partner read differs.
    np.testing.assert_array_equal(pub.provenance_["base"], paper.provenance_["base"])
    np.testing.assert_array_equal(pub.provenance_["r"], paper.provenance_["r"])
    expected = [PUBLISHED[(b, e)] for b, e in zip(paper.provenance_["base"].tolist(),
                                                    paper.provenance_["partner"].tolist(), strict=True)]
    np.testing.assert_array_equal(pub.provenance_["partner"], expected)
    base, partner, r = pub.provenance_["base"], pub.provenance_["partner"], pub.provenance_["r"]
    np.testing.assert_allclose(X_syn, X[base] + r[:, None] * (X[partner] - X[base]), atol=1e-5)
    assert (y_syn == 1).all()


def test_partner_shares_of_both_rules():
    paper, _, _ = _fit("enemy")
    pub, _, _ = _fit("published")
    assert partner_share(y, paper.provenance_["base"], paper.provenance_["partner"]) == {
        "enemy": 1.0, "self": 0.0, "same_class": 0.0}
    share = partner_share(y, pub.provenance_["base"], pub.provenance_["partner"])
    b, p = pub.provenance_["base"], pub.provenance_["partner"]
    assert share == {"enemy": float(np.mean(y[p] != y[b])), "self": float(np.mean(p == b)),
                     "same_class": float(np.mean((y[p] == y[b]) & (p != b)))}
    # Bases are uniform over the 5 candidates, enemies uniform per base: enemy 1/5 * 1/2 (row 1's
    # second enemy), self 1/5 * 1/2 + 1/5 (rows 0 and 4), same class the rest.
    assert share["enemy"] == pytest.approx(0.1, abs=0.02)
    assert share["self"] == pytest.approx(0.3, abs=0.02)
    assert share["same_class"] == pytest.approx(0.6, abs=0.02)


def test_partner_share_exact_and_empty():
    labels = np.array([0, 0, 1])
    assert partner_share(labels, [0, 0, 0, 1], [2, 0, 1, 1]) == {"enemy": 0.25, "self": 0.5, "same_class": 0.25}
    assert partner_share(labels, np.zeros(0, int), np.zeros(0, int)) is None


def test_method_ids_map_to_the_rules():
    assert make_sampler("eos").partner_rule == "enemy"
    assert make_sampler("eos_published").partner_rule == "published"
    _, _, prov = resample("eos_published", X, y, k_neighbors=K, random_state=7,
                          sampling_strategy={1: 5 + N_SYN})
    pub, _, _ = _fit("published")
    np.testing.assert_array_equal(prov["partner"], pub.provenance_["partner"])
    with pytest.raises(ConfigError, match="partner_rule must be one of enemy, published"):
        EOS(partner_rule="shifted").fit_resample(X, y)
