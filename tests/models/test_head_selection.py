"""Which SCAN head is kept: the most agreeing one, or the lowest loss; never by labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irl_inr.metrics.clustering import pairwise_rand_index
from irl_inr.models.head_selection import kept_head, mean_agreement


def heads_with_a_stray(count: int = 120, seed: int = 0) -> np.ndarray:
    """(4, N): three heads that share a partition up to a few images and renamed clusters,
    and a fourth of its own."""
    rng = np.random.default_rng(seed)
    shared = np.repeat(np.arange(3), count // 3)
    heads = []
    for offset in range(3):
        head = (shared + offset) % 3
        moved = rng.choice(count, 4 + offset, replace=False)
        head[moved] = rng.integers(0, 3, len(moved))
        heads.append(head)
    heads.append(rng.integers(0, 3, count))
    return np.stack(heads)


def test_agreement_keeps_the_head_the_others_agree_with_and_loss_the_lowest_loss():
    heads = heads_with_a_stray()
    agreement = pairwise_rand_index(heads)
    losses = torch.tensor([-1.0, -1.1, -1.2, -2.0])  # the stray head has the lowest loss
    assert kept_head("loss", losses, agreement) == 3
    kept = kept_head("agreement", losses, agreement)
    assert kept == int(np.argmax(mean_agreement(agreement))) and kept in (0, 1, 2)
    assert mean_agreement(agreement)[3] < 0.1 < 0.5 < mean_agreement(agreement)[kept]
    assert all(agreement[kept, other] > 0.8 for other in {0, 1, 2} - {kept})


def test_heads_that_agree_equally_are_told_apart_by_their_loss():
    two = pairwise_rand_index(heads_with_a_stray()[:2])  # two heads: always the same mean agreement
    assert kept_head("agreement", torch.tensor([0.5, 0.2]), two) == 1
    assert kept_head("agreement", torch.tensor([0.2, 0.5]), two) == 0
    assert kept_head("agreement", torch.tensor([0.3]), np.ones((1, 1))) == 0
    np.testing.assert_array_equal(mean_agreement(np.ones((1, 1))), [1.0])


def test_bad_rules_and_shapes_name_the_argument():
    agreement = np.ones((2, 2))
    with pytest.raises(ValueError, match=r"rule must be one of \['agreement', 'loss'\], got 'labels'"):
        kept_head("labels", torch.zeros(2), agreement)
    with pytest.raises(ValueError, match="losses .* and agreement .* must describe the same heads"):
        kept_head("agreement", torch.zeros(3), agreement)
