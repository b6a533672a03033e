"""Agreement between partitions without labels: the pairwise ARI and its summary for heads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from irl_inr.metrics.clustering import head_agreement, pairwise_rand_index


def test_pairwise_rand_index_is_sklearns_ari_for_every_pair():
    rng = np.random.default_rng(0)
    partitions = rng.integers(0, 6, size=(5, 300))
    partitions[1] = (partitions[0] + 2) % 6  # the first, clusters renamed
    partitions[2, :150] = partitions[0, :150]  # half the first
    partitions[3] = rng.integers(0, 3, size=300)  # fewer clusters
    agreement = pairwise_rand_index(partitions)
    expected = [[adjusted_rand_score(first, second) for second in partitions] for first in partitions]
    np.testing.assert_allclose(agreement, expected, atol=1e-12)
    assert agreement[0, 1] == pytest.approx(1.0) and agreement[0, 2] < 0.6 and abs(agreement[0, 4]) < 0.05


def test_partitions_can_be_tensors_or_strings_and_one_cluster_agrees_with_one_cluster():
    as_tensor = pairwise_rand_index(torch.tensor([[0, 0, 1, 1], [1, 1, 0, 0]]))
    as_strings = pairwise_rand_index(np.array([["a", "a", "b", "b"], ["x", "x", "y", "y"]]))
    np.testing.assert_allclose(as_tensor, np.ones((2, 2)))
    np.testing.assert_allclose(as_strings, np.ones((2, 2)))
    assert pairwise_rand_index(np.zeros((2, 5), dtype=int))[0, 1] == 1.0  # sklearn's convention


def test_identical_heads_agree_fully_and_a_disagreeing_head_lowers_the_agreement():
    base = np.repeat(np.arange(4), 25)
    identical = np.stack([base, (base + 1) % 4, base])
    assert head_agreement(pairwise_rand_index(identical), kept=0) == {
        "head_agreement_ari": pytest.approx(1.0), "kept_head_agreement_ari": pytest.approx(1.0),
    }
    stray = np.random.default_rng(1).integers(0, 4, size=100)
    disagreeing = pairwise_rand_index(np.stack([base, base, stray]))
    summary = head_agreement(disagreeing, kept=0)
    assert summary["head_agreement_ari"] < 0.5  # one pair of three agrees
    assert summary["kept_head_agreement_ari"] == pytest.approx((1 + disagreeing[0, 2]) / 2)
    assert head_agreement(disagreeing, kept=2)["kept_head_agreement_ari"] < summary["kept_head_agreement_ari"]


def test_bad_partitions_and_kept_heads_name_the_argument():
    with pytest.raises(ValueError, match="partitions must have shape"):
        pairwise_rand_index(np.arange(5))
    with pytest.raises(ValueError, match=r"partitions\[1\] contains NaN"):
        pairwise_rand_index(np.array([[0.0, 1.0], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match="at least two partitions"):
        head_agreement(np.ones((1, 1)), kept=0)
    with pytest.raises(ValueError, match=r"kept must be an integer in \[0, 2\)"):
        head_agreement(np.ones((2, 2)), kept=2)
