"""Images as the models' input, and codes checked."""

import numpy as np
import pytest

from irl_inr.inference import finite_codes, image_shape, images_as_array, images_as_tensor


def test_images_with_nan_are_refused():
    images = np.zeros((2, 4, 4), np.float32)
    images[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite pixels"):
        images_as_tensor(images)


def test_images_become_one_channel_float32():
    tensor = images_as_tensor(np.ones((3, 4, 5), np.float64))
    assert tuple(tensor.shape) == (3, 1, 4, 5) and str(tensor.dtype) == "torch.float32"


def test_colour_images_keep_their_channels_and_come_back_in_the_domains_layout():
    colour = np.random.default_rng(0).random((2, 3, 4, 4))
    tensor = images_as_tensor(colour)
    assert tuple(tensor.shape) == (2, 3, 4, 4) and str(tensor.dtype) == "torch.float32"
    np.testing.assert_array_equal(images_as_array(tensor), colour.astype(np.float32))
    grey = np.random.default_rng(0).random((2, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(images_as_array(images_as_tensor(grey)), grey)
    assert image_shape(1, 4) == (4, 4) and image_shape(3, 4) == (3, 4, 4)
    with pytest.raises(ValueError, match=r"\(N, H, W\) or \(N, C, H, W\), got \(2, 4\)"):
        images_as_tensor(np.zeros((2, 4)))


def test_codes_with_a_non_finite_row_name_it():
    codes = np.zeros((4, 2))
    codes[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"semantic_codes holds NaN or infinite values in 1 of 4 rows \(first: row 2\)"):
        finite_codes(codes, "semantic_codes")
    with pytest.raises(ValueError, match="must have shape"):
        finite_codes(np.zeros(3), "semantic_codes")


def test_the_inference_copy_encodes_as_the_model_does():
    import torch

    from irl_inr.inference import encode_in_batches, inference_copy
    from irl_inr.models.irl_inr import IRLINR, IRLINRConfig

    torch.manual_seed(0)
    model = IRLINR(IRLINRConfig(image_size=24, latent_dim=4)).train()
    images = torch.rand(10, 1, 24, 24, generator=torch.Generator().manual_seed(0))
    copy = inference_copy(model)
    assert model.training and model.encoder.memory_format == torch.contiguous_format
    assert copy.encoder.memory_format == torch.channels_last
    expected = encode_in_batches(model.eval(), images, 4, torch.device("cpu"))
    for want, got in zip(expected, encode_in_batches(copy, images, 4, torch.device("cpu"))):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    unpacked = inference_copy(model, pack=False)
    for want, got in zip(expected, encode_in_batches(unpacked, images, 4, torch.device("cpu"))):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="pack needs fold"):
        inference_copy(model, fold=False)
    plain = inference_copy(model, fold=False, channels_last=False, pack=False)
    for want, got in zip(expected, encode_in_batches(plain, images, 4, torch.device("cpu"))):
        assert torch.equal(got, want)


def test_the_inference_copy_of_a_colour_model_encodes_and_renders_three_channels():
    import torch

    from irl_inr.inference import encode_in_batches, inference_copy, render_in_batches
    from irl_inr.models.irl_inr import IRLINR, IRLINRConfig

    torch.manual_seed(0)
    model = IRLINR(IRLINRConfig(image_size=24, latent_dim=4, channels=3)).eval()
    images = torch.rand(10, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    cpu = torch.device("cpu")
    expected = encode_in_batches(model, images, 4, cpu)
    for want, got in zip(expected, encode_in_batches(inference_copy(model), images, 4, cpu)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    rendered = render_in_batches(model, *expected, 24, 4, cpu)
    assert rendered.shape == (10, 3, 24, 24) and rendered.dtype == np.float32


def test_cluster_probabilities_and_the_inference_copy_read_the_averaged_code():
    """With code_rotations_degrees, the clustering heads see the mean code over the turns
    (as the embedding does), and the packed inference copy encodes the same mean."""
    import math

    import torch
    import torch.nn.functional as F

    from irl_inr.inference import cluster_probabilities, encode_in_batches, inference_copy
    from irl_inr.models.irl_inr import IRLINR, IRLINRConfig

    torch.manual_seed(0)
    # Quarter turns: an untrained encoder's codes move enough to tell the mean from one pass.
    model = IRLINR(IRLINRConfig(image_size=24, latent_dim=4, code_rotations_degrees=[-90, 0, 90])).eval()
    with torch.no_grad():  # codes of order 1 (an untrained head gives ~0.01), so the tolerances below are tight
        model.encoder.code_head.weight.mul_(100)
    images = torch.rand(6, 1, 24, 24, generator=torch.Generator().manual_seed(1))
    head = torch.nn.Linear(4, 3)
    with torch.no_grad():
        turns = [model.encoder(images, (torch.full((6,), a), torch.zeros(6, 2))) for a in (-math.pi / 2, 0.0, math.pi / 2)]
        mean_code = torch.stack([t.semantic_code for t in turns]).mean(0)
        expected = torch.softmax(head(F.normalize(mean_code, dim=1)), dim=-1).numpy()
    got = cluster_probabilities(model.encoder, head, images, 4, torch.device("cpu"), normalise=True)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        one_pass = torch.softmax(head(F.normalize(model.encoder(images).semantic_code, dim=1)), dim=-1).numpy()
    assert np.abs(one_pass - got).max() > 1e-3  # far above the tolerance: the turns are read
    codes, _, _ = encode_in_batches(inference_copy(model), images, 4, torch.device("cpu"))
    torch.testing.assert_close(codes, mean_code, rtol=1e-4, atol=1e-4)
    assert (codes - turns[1].semantic_code).abs().max() > 1e-2  # 100 times the tolerance
