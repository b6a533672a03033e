"""The INR and its hypernetwork: shapes, pose convention, batching, initial scale."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from irl_inr.geometry import pixel_grid, pixels_to_normalised, transform_images
from irl_inr.models.hypernetwork import HyperNetwork
from irl_inr.models.inr import INR, FourierFeatures

SIZE = 24


def smooth_inr(batch: int = 3, seed: int = 0, out_channels: int = 1) -> tuple[INR, list]:
    """A low-frequency INR of ``out_channels`` channels with random per-image weights from a hypernetwork."""
    torch.manual_seed(seed)
    inr = INR(num_frequencies=16, hidden=(32, 32), fourier_scale=0.7, fourier_seed=seed, out_channels=out_channels)
    hypernetwork = HyperNetwork(8, (32,), inr.layer_shapes, modulation_scale=1.0)
    return inr, hypernetwork(torch.randn(batch, 8))


def test_fourier_features_are_fixed_by_the_seed():
    first, again, other = FourierFeatures(8, 2.0, 3), FourierFeatures(8, 2.0, 3), FourierFeatures(8, 2.0, 4)
    assert torch.equal(first.frequencies, again.frequencies)
    assert not torch.equal(first.frequencies, other.frequencies)
    points = torch.rand(2, 5, 2)
    features = first(points)
    assert features.shape == (2, 5, 16) and first.out_features == 16
    phase = 2 * math.pi * points @ first.frequencies.T
    torch.testing.assert_close(features, torch.cat([phase.cos(), phase.sin()], -1))
    # B ~ N(0, scale^2)
    assert 1.5 < FourierFeatures(4096, 2.0, 0).frequencies.std().item() < 2.5


def test_fourier_features_backward_matches_autograd_of_cos_and_sin():
    features = FourierFeatures(8, 2.0, 3)
    points = torch.rand(2, 5, 2, requires_grad=True)
    weights = torch.randn(2, 5, 16)
    (ours,) = torch.autograd.grad((features(points) * weights).sum(), points)
    phase = 2 * math.pi * points @ features.frequencies.T
    (theirs,) = torch.autograd.grad((torch.cat([phase.cos(), phase.sin()], -1) * weights).sum(), points)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


def test_layer_shapes_and_hypernetwork_output_shapes():
    inr = INR(num_frequencies=256, hidden=(256, 256, 256))
    assert inr.layer_shapes == [(256, 512), (256, 256), (256, 256), (1, 256)]
    # the paper's INR: 263,169 parameters per image
    assert sum(out * inp + out for out, inp in inr.layer_shapes) == 263_169

    small = INR(num_frequencies=4, hidden=(6,))
    weights = HyperNetwork(5, (7, 7), small.layer_shapes)(torch.randn(3, 5))
    assert [(w.shape, b.shape) for w, b in weights] == [
        ((3, 6, 8), (3, 6)),
        ((3, 1, 6), (3, 1)),
    ]


def test_render_shapes_dtype_and_range():
    inr, weights = smooth_inr(batch=2)
    image = inr.render(weights, torch.zeros(2), torch.zeros(2, 2), 10, 12)
    assert image.shape == (2, 1, 10, 12) and image.dtype == torch.float32
    assert ((image > 0) & (image < 1)).all()


def test_hypernetwork_starts_from_a_well_scaled_shared_inr():
    """At initialisation every code gives nearly the same, non-degenerate INR."""
    inr = INR(num_frequencies=64, hidden=(64, 64))
    hypernetwork = HyperNetwork(16, (64, 64), inr.layer_shapes)
    codes = torch.randn(4, 16)
    image = inr.render(hypernetwork(codes), torch.zeros(4), torch.zeros(4, 2), SIZE, SIZE)
    assert 0.02 < image.std().item() < 0.45  # neither flat nor saturated
    spread_between_codes = (image - image.mean(0)).abs().mean().item()
    assert spread_between_codes < 0.5 * (image - image.mean()).abs().mean().item()


def test_quarter_turn_render_equals_the_rotated_canonical_render():
    """theta = 90 degrees renders the canonical image turned by 90 degrees (geometry's
    convention: positive from +x towards +y); a whole-pixel shift moves it the same way."""
    inr, weights = smooth_inr(batch=2)
    zero = torch.zeros(2)
    canonical = inr.render(weights, zero, torch.zeros(2, 2), SIZE, SIZE)
    quarter = torch.full((2,), math.pi / 2)
    turned = inr.render(weights, quarter, torch.zeros(2, 2), SIZE, SIZE)
    torch.testing.assert_close(turned, transform_images(canonical, quarter), atol=1e-5, rtol=0)
    assert (turned - canonical).abs().max() > 0.05  # the image is not rotation-symmetric

    shift = pixels_to_normalised(torch.tensor([[3.0, -2.0], [-1.0, 4.0]]), SIZE)
    moved = inr.render(weights, quarter, shift, SIZE, SIZE)
    expected = transform_images(canonical, quarter, shift)
    inner = (slice(None), slice(None), slice(5, -5), slice(5, -5))  # away from the zero padding
    torch.testing.assert_close(moved[inner], expected[inner], atol=1e-5, rtol=0)


@pytest.mark.parametrize("channels", [1, 3])
def test_batched_inr_equals_a_per_image_reference_loop(channels):
    inr, weights = smooth_inr(batch=4, out_channels=channels)
    rotation = torch.tensor([0.0, 0.7, 2.0, 4.5])
    translation = torch.tensor([[0.0, 0.0], [0.1, -0.2], [-0.3, 0.05], [0.2, 0.2]])
    pixels = pixel_grid(9, 7)
    batched = inr(weights, rotation, translation, pixels)  # (4, C, 63)
    assert batched.shape == (4, channels, 63)

    for i in range(4):
        angle = rotation[i]
        inverse = torch.tensor([[torch.cos(angle), torch.sin(angle)], [-torch.sin(angle), torch.cos(angle)]])
        points = (pixels - translation[i]) @ inverse.T  # R(-theta) (p - tau)
        phase = 2 * math.pi * points @ inr.features.frequencies.T
        hidden = torch.cat([phase.cos(), phase.sin()], -1)
        for index, (weight, bias) in enumerate(weights):
            hidden = F.linear(hidden, weight[i], bias[i])
            if index < len(weights) - 1:
                hidden = hidden.relu()
        torch.testing.assert_close(batched[i], hidden.sigmoid().T, atol=1e-5, rtol=1e-5)  # (C, 63)


def test_per_image_pixels_are_accepted():
    inr, weights = smooth_inr(batch=2)
    grid = pixel_grid(5)
    shared = inr(weights, torch.zeros(2), torch.zeros(2, 2), grid)
    own = inr(weights, torch.zeros(2), torch.zeros(2, 2), grid.expand(2, -1, -1))
    torch.testing.assert_close(shared, own)


def test_wrong_number_of_layers_is_an_error():
    inr, weights = smooth_inr(batch=1)
    with pytest.raises(ValueError, match="layers"):
        inr(weights[:-1], torch.zeros(1), torch.zeros(1, 2), pixel_grid(4))


# --------------------------------------------------------------------------- pixel chunks


def chunked_and_whole(pixels: torch.Tensor, chunk_pixels: int, out_channels: int = 1):
    """Outputs and gradients (w.r.t. every weight and bias, rotation and translation) of
    the same INR evaluated whole and in chunks of ``chunk_pixels``."""
    results = []
    for chunk in (None, chunk_pixels):
        inr, weights = smooth_inr(batch=3, out_channels=out_channels)
        inr.chunk_pixels = chunk
        rotation = torch.tensor([0.3, -1.2, 2.0], requires_grad=True)
        translation = torch.tensor([[0.1, -0.2], [0.0, 0.05], [-0.3, 0.2]], requires_grad=True)
        output = inr(weights, rotation, translation, pixels)
        inputs = [tensor for pair in weights for tensor in pair] + [rotation, translation]
        # A loss that weighs every pixel differently, so each chunk's gradient counts.
        loss = (output * torch.linspace(-1, 2, output[0].numel()).reshape(output.shape[1:])).sum()
        results.append((output, torch.autograd.grad(loss, inputs)))
    return results


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("per_image_pixels", [False, True], ids=["shared_grid", "per_image_pixels"])
def test_chunked_evaluation_gives_the_same_values_and_gradients(per_image_pixels, channels):
    """37 pixels in chunks of 10 (the last one short): the same outputs and gradients."""
    generator = torch.Generator().manual_seed(1)
    pixels = torch.rand(3, 37, 2, generator=generator) * 2 - 1 if per_image_pixels else pixel_grid(37, 1)
    (whole, whole_grads), (chunked, chunked_grads) = chunked_and_whole(pixels, chunk_pixels=10, out_channels=channels)
    assert chunked.shape == whole.shape == (3, channels, 37)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)
    for chunked_grad, whole_grad in zip(chunked_grads, whole_grads, strict=True):
        torch.testing.assert_close(chunked_grad, whole_grad, rtol=1e-5, atol=1e-5)


def test_chunks_keep_only_their_inputs_for_the_backward_pass():
    """With chunks, the activations saved for backward are the chunks' inputs, not the
    hidden layers of every pixel."""

    def saved_elements(chunk_pixels: int | None) -> int:
        inr, weights = smooth_inr(batch=2)
        inr.chunk_pixels = chunk_pixels
        rotation = torch.zeros(2, requires_grad=True)
        total = 0

        def count(tensor: torch.Tensor) -> torch.Tensor:
            nonlocal total
            total += tensor.numel()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(count, lambda tensor: tensor):
            inr(weights, rotation, torch.zeros(2, 2), pixel_grid(40))
        return total

    assert saved_elements(100) < saved_elements(None) / 10


def test_chunked_rendering_without_gradients_matches():
    inr, weights = smooth_inr(batch=2)
    with torch.no_grad():
        whole = inr.render(weights, torch.tensor([0.4, 1.0]), torch.zeros(2, 2), 9, 11)
        inr.chunk_pixels = 16
        chunked = inr.render(weights, torch.tensor([0.4, 1.0]), torch.zeros(2, 2), 9, 11)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError, match="chunk_pixels"):
        INR(num_frequencies=4, hidden=(6,), chunk_pixels=0)
