"""Each loss is zero exactly where it should be, positive elsewhere, and scalar."""

from __future__ import annotations

import math

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
        contrastive_loss(code, code, 0.5),
        symmetry_breaking_loss(torch.zeros(8, 2, dtype=torch.bfloat16), images),
        variance_loss(code),
        covariance_loss(code),
    ):
        assert value.shape == () and value.dtype == torch.float32


def test_contrastive_loss_rewards_picking_the_other_view():
    code = torch.eye(4) * 5
    low = contrastive_loss(code, code, temperature=0.1)
    assert low.item() < 1e-3  # each code's other view is its only match
    shuffled = contrastive_loss(code, code.roll(1, dims=0), temperature=0.1)
    assert shuffled.item() > 5.0
    collapsed = torch.ones(4, 3)
    # all 2B - 1 candidates equally similar: log(2B - 1)
    assert abs(contrastive_loss(collapsed, collapsed).item() - math.log(7)) < 1e-5
