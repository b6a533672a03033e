"""Each loss is zero exactly where it should be, positive elsewhere, and scalar."""

from __future__ import annotations

import math

import pytest
import torch

from irl_inr.geometry import centre_of_mass
from irl_inr.models.losses import (
    consistency_loss,
    contrastive_loss,
    covariance_loss,
    reconstruction_loss,
    symmetry_breaking_loss,
    variance_loss,
)


def test_reconstruction_is_the_pixel_mse():
    images = torch.rand(3, 1, 6, 6)
    assert reconstruction_loss(images, images.clone()).item() == 0.0
    assert reconstruction_loss(images + 0.5, images).item() == 0.25
    sampled = torch.rand(3, 10)
    assert reconstruction_loss(sampled, sampled).shape == ()


def test_consistency_is_zero_for_codes_pointing_the_same_way():
    code = torch.randn(5, 8)
    assert consistency_loss(code, code).abs().item() < 1e-6
    assert consistency_loss(code, 3.0 * code).abs().item() < 1e-6  # only directions count
    assert abs(consistency_loss(code, -code).item() - 2.0) < 1e-6
    orthogonal = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert abs(consistency_loss(*orthogonal).item() - 1.0) < 1e-6


def test_symmetry_breaking_is_zero_at_the_centre_of_mass():
    images = torch.zeros(2, 1, 10, 10)
    images[0, 0, 2:4, 6:9] = 1.0
    images[1, 0, 7, 1] = 0.5
    centre = centre_of_mass(images)
    assert symmetry_breaking_loss(centre, images).item() == 0.0
    assert abs(symmetry_breaking_loss(centre + 0.1, images).item() - 0.01) < 1e-6


def test_variance_is_zero_once_every_dimension_spreads_enough():
    spread = torch.randn(256, 4) * 3.0
    assert variance_loss(spread).item() == 0.0
    collapsed = torch.ones(256, 4)
    assert abs(variance_loss(collapsed).item() - (1.0 - 1e-2)) < 1e-4  # sqrt(0 + eps)


def test_covariance_is_zero_for_decorrelated_dimensions():
    signs = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    assert covariance_loss(signs).item() == 0.0  # centred, orthogonal columns
    duplicated = torch.cat([signs[:, :1], signs[:, :1]], dim=1)
    # covariance (4/3) off the diagonal twice, over d = 2
    assert abs(covariance_loss(duplicated).item() - (4 / 3) ** 2) < 1e-5


def test_losses_are_float32_scalars_under_bfloat16_inputs():
    code = torch.randn(8, 4, dtype=torch.bfloat16)
    images = torch.rand(8, 1, 5, 5)
    for value in (
        reconstruction_loss(images.bfloat16(), images),
        consistency_loss(code, code),
        contrastive_loss([code, code], 0.5),
        contrastive_loss([code, code, code], 0.5),
        symmetry_breaking_loss(torch.zeros(8, 2, dtype=torch.bfloat16), images),
        variance_loss(code),
        covariance_loss(code),
    ):
        assert value.shape == () and value.dtype == torch.float32


def test_contrastive_loss_rewards_picking_the_other_view():
    code = torch.eye(4) * 5
    low = contrastive_loss([code, code], temperature=0.1)
    assert low.item() < 1e-3  # each code's other view is its only match
    shuffled = contrastive_loss([code, code.roll(1, dims=0)], temperature=0.1)
    assert shuffled.item() > 5.0
    collapsed = torch.ones(4, 3)
    # all 2B - 1 candidates equally similar: log(2B - 1)
    assert abs(contrastive_loss([collapsed, collapsed]).item() - math.log(7)) < 1e-5


def test_two_views_are_simclrs_loss():
    """SimCLR's NT-Xent written out: -log softmax of the other view among the 2B - 1 others."""
    generator = torch.Generator().manual_seed(0)
    code, other_code = torch.randn(6, 4, generator=generator), torch.randn(6, 4, generator=generator)
    unit = torch.nn.functional.normalize(torch.cat([code, other_code]), dim=1)
    similarity = unit @ unit.T / 0.3
    terms = []
    for anchor in range(12):
        partner = (anchor + 6) % 12
        others = [k for k in range(12) if k != anchor]
        terms.append(-(similarity[anchor, partner] - torch.logsumexp(similarity[anchor, others], dim=0)))
    torch.testing.assert_close(contrastive_loss([code, other_code], 0.3), torch.stack(terms).mean())


def test_more_views_average_the_terms_of_every_positive():
    """SupCon's multi-positive loss with each image its own class, written out for 3 views."""
    generator = torch.Generator().manual_seed(1)
    views = [torch.randn(5, 4, generator=generator) for _ in range(3)]
    unit = torch.nn.functional.normalize(torch.cat(views), dim=1)  # (15, 4)
    similarity = unit @ unit.T / 0.2
    terms = []
    for anchor in range(15):
        others = [k for k in range(15) if k != anchor]
        normaliser = torch.logsumexp(similarity[anchor, others], dim=0)
        positives = [k for k in others if k % 5 == anchor % 5]
        assert len(positives) == 2
        terms.append(torch.stack([normaliser - similarity[anchor, k] for k in positives]).mean())
    torch.testing.assert_close(contrastive_loss(views, 0.2), torch.stack(terms).mean())
    # Codes that agree across the views and differ between images: near zero; collapsed:
    # the positives share the softmax's mass, log((3B - 1) / 1) per positive.
    distinct = torch.eye(5) * 5
    assert contrastive_loss([distinct] * 3, 0.1).item() < math.log(2) + 1e-3  # two equal positives split the mass
    collapsed = torch.ones(5, 3)
    assert abs(contrastive_loss([collapsed] * 3).item() - math.log(14)) < 1e-5


def test_contrastive_loss_refuses_one_view_or_unequal_views():
    code = torch.randn(4, 3)
    with pytest.raises(ValueError, match="2 or more views of the same shape"):
        contrastive_loss([code])
    with pytest.raises(ValueError, match="2 or more views of the same shape"):
        contrastive_loss([code, code[:3]])
