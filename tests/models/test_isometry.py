"""The relaxed distortion measure and the mean condition number on linear decoders whose
pullback metric is known, and the isometry term inside IRL-INR's training step."""

from __future__ import annotations

import pytest
import torch

from irl_inr.models.irl_inr import IRLINRConfig
from irl_inr.models.isometry import condition_numbers, mean_condition_number, relaxed_distortion
from tests.models.test_irl_inr import strokes, tiny_model

DIM, OUT = 6, 40


def linear(matrix: torch.Tensor):
    """The decoder z (B, d) -> z A^T (B, D): its Jacobian is A everywhere, G = A^T A."""
    return lambda code: code @ matrix.T


def scaled_isometry(scale: float = 3.0) -> torch.Tensor:
    """A (D, d) with orthonormal columns, times ``scale``: G = scale^2 I."""
    generator = torch.Generator().manual_seed(0)
    orthonormal, _ = torch.linalg.qr(torch.randn(OUT, DIM, generator=generator, dtype=torch.float64))
    return scale * orthonormal.float()


def codes(count: int = 512) -> torch.Tensor:
    return torch.randn(count, DIM, generator=torch.Generator().manual_seed(1))


def test_distortion_of_a_scaled_isometry_is_zero_up_to_sampling():
    values = [
        relaxed_distortion(linear(scaled_isometry()), codes(), torch.Generator().manual_seed(seed)).item()
        for seed in range(5)
    ]
    # With one v per code the estimate is d / mean|v|^2 - 1: about +-sqrt(2 / (B d)) ~ 0.025.
    assert all(abs(value) < 0.08 for value in values), values


def test_distortion_of_a_stretching_map_is_clearly_positive():
    stretch = scaled_isometry(1.0) * torch.tensor([4.0, 1.0, 1.0, 1.0, 1.0, 0.25])
    # Exactly: d Tr(G^2) / Tr(G)^2 - 1 = 6 (256 + 4 + 1/256) / (16 + 4 + 1/16)^2 - 1 ~ 2.88.
    value = relaxed_distortion(linear(stretch), codes(), torch.Generator().manual_seed(0)).item()
    assert 2.0 < value < 4.0


def test_distortion_draws_everything_from_the_generator_and_is_differentiable():
    matrix = scaled_isometry().requires_grad_(True)
    first = relaxed_distortion(linear(matrix), codes(64), torch.Generator().manual_seed(5))
    again = relaxed_distortion(linear(matrix), codes(64), torch.Generator().manual_seed(5))
    assert torch.equal(first, again)
    first.backward()
    assert matrix.grad is not None and torch.isfinite(matrix.grad).all()


def test_condition_number_of_a_scaled_isometry_is_one():
    numbers = condition_numbers(linear(scaled_isometry(2.5)), codes(20), batch_size=7)
    assert numbers.shape == (20,) and numbers.dtype == torch.float64
    torch.testing.assert_close(numbers, torch.ones(20, dtype=torch.float64), rtol=1e-5, atol=0)


def test_condition_number_of_a_diagonal_stretch_is_the_ratio_of_squared_scales():
    stretch = scaled_isometry(1.0) * torch.tensor([3.0, 2.0, 1.0, 1.0, 1.0, 0.5])
    result = mean_condition_number(linear(stretch), codes(10))
    assert result["mean_condition_number"] == pytest.approx((3.0 / 0.5) ** 2, rel=1e-5)
    assert result["rank_deficient_codes"] == 0


def test_rank_deficient_codes_are_counted_not_averaged():
    matrix = scaled_isometry()

    def folding(code: torch.Tensor) -> torch.Tensor:  # flattens the last coordinate where it is negative
        return torch.cat([code[:, :-1], code[:, -1:].clamp(min=0)], dim=1) @ matrix.T

    points = torch.ones(4, DIM)
    points[:2, -1] = -1
    result = mean_condition_number(folding, points)
    assert result["rank_deficient_codes"] == 2
    assert result["mean_condition_number"] == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ValueError, match="rank deficient at all 2 codes"):
        mean_condition_number(folding, points[:2])


def test_isometry_term_is_off_by_default_and_weighted_into_the_total_when_on():
    images = strokes(8)
    plain = tiny_model().training_losses(images, torch.Generator().manual_seed(0))
    assert "isometry" not in plain
    with_isometry = tiny_model(isometry_weight=0.5).training_losses(images, torch.Generator().manual_seed(0))
    for name, value in plain.items():  # the other terms see the same draws
        if name != "total":
            assert torch.equal(value, with_isometry[name]), name
    isometry = with_isometry["isometry"]
    subset = tiny_model(isometry_weight=0.5, isometry_codes=4).training_losses(images, torch.Generator().manual_seed(0))
    assert not torch.equal(subset["isometry"], isometry)  # 4 of the 8 codes
    assert isometry.shape == () and isometry > 0
    torch.testing.assert_close(with_isometry["total"], plain["total"] + 0.5 * isometry)


def test_isometry_term_is_float32_under_bfloat16_autocast():
    model = tiny_model(isometry_weight=1.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = model.training_losses(strokes(8), torch.Generator().manual_seed(0))
    assert losses["isometry"].dtype == torch.float32 and torch.isfinite(losses["isometry"])


def test_bad_isometry_settings_are_errors_that_name_the_field():
    for field, value in (("isometry_weight", -1.0), ("isometry_eta", float("nan")), ("isometry_codes", 1)):
        with pytest.raises(ValueError, match=field):
            IRLINRConfig(**{field: value})
