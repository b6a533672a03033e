"""DTI clustering: k-means as the identity case, rotation invariance, empty clusters, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from irl_inr.geometry import pixel_grid, rotation_matrices, transform_images
from irl_inr.metrics import clustering_accuracy
from tests.models.shapes import SIZE, rotated_bar_and_ell
from irl_inr.models.dti import DTIClustering
from irl_inr.models.prototype_seeding import kmeans_plus_plus





def blobs(per_blob: int = 40, centres: int = 3, noise: float = 0.1, seed: int = 0):
    """Well separated blobs of 1x4x4 'images': blob c is c (times a fixed random pattern) + noise."""
    generator = torch.Generator().manual_seed(seed)
    means = torch.randn(centres, 1, 4, 4, generator=generator) * 3
    labels = torch.arange(per_blob * centres) % centres
    images = means[labels] + noise * torch.randn(labels.shape[0], 1, 4, 4, generator=generator)
    return images, labels, means


def rotated_shapes(count: int = 200, seed: int = 0):
    return rotated_bar_and_ell(count, seed)


def adam_steps(model, images, steps: int, lr: float, batch_size: int = 64) -> None:
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator()
    for step in range(steps):
        generator.manual_seed(step)
        order = torch.randperm(images.shape[0], generator=generator)[:batch_size]
        losses = model.training_losses(images[order], generator)
        optimiser.zero_grad()
        losses["total"].backward()
        optimiser.step()


# ------------------------------------------------------------------------- k-means case


def test_identity_dti_is_kmeans():
    images, _, _ = blobs()
    model = DTIClustering(3, (1, 4, 4), ("identity",))
    assert model.transformer is None
    generator = torch.Generator().manual_seed(1)
    model.initialise_prototypes(images, "sample", generator=generator)
    with torch.no_grad():
        model.prototypes.add_(torch.randn(model.prototypes.shape, generator=generator))  # not data points

    flat, centres = images.flatten(1).double().numpy(), model.prototypes.detach().flatten(1).double().numpy()
    squared = ((flat[:, None, :] - centres[None, :, :]) ** 2).sum(-1)  # (N, K) by hand
    assignment = model.assign(images)
    np.testing.assert_array_equal(assignment.clusters.numpy(), squared.argmin(1))
    np.testing.assert_allclose(assignment.errors.numpy(), squared.min(1), rtol=1e-5)
    torch.testing.assert_close(assignment.reconstructions, model.prototypes.detach()[assignment.clusters])
    objective = squared.min(1).sum()  # the k-means objective
    loss = model.training_losses(images, torch.Generator())["total"]
    assert float(loss.detach()) == pytest.approx(objective / images.shape[0], rel=1e-5)


@pytest.mark.learned
def test_identity_dti_recovers_separated_blobs():
    images, labels, means = blobs()
    model = DTIClustering.from_data(images, 3, ("identity",), seed=0)
    adam_steps(model, images, steps=150, lr=0.05)
    clusters = model.assign(images).clusters
    assert clustering_accuracy(labels, clusters) == 1.0
    for cluster in range(3):  # each prototype is close to its blob's mean
        label = int(labels[clusters == cluster].mode().values)
        assert (model.prototypes[cluster].detach() - means[label]).abs().max() < 0.2


def test_kmeans_plus_plus_picks_distinct_spread_seeds():
    images, labels, _ = blobs(per_blob=20)
    chosen = kmeans_plus_plus(images, 3, torch.Generator().manual_seed(0))
    assert len(set(chosen.tolist())) == 3
    assert sorted(labels[chosen].tolist()) == [0, 1, 2]  # one seed per well separated blob


# ------------------------------------------------------------------------ transformations


def test_rendering_follows_the_geometry_convention():
    model = DTIClustering(1, SIZE, ("rotation", "translation", "scale"), hidden=128)
    images, _, _ = rotated_shapes(count=4)
    with torch.no_grad():
        model.prototypes.copy_(images[1:2])
        model.output.bias.copy_(torch.tensor([0.7, 0.3, -0.2, 0.0]))  # angle, raw tx, raw ty, raw log-scale
    rendered = model.transformed_prototypes(images[:2])  # (B, K, R, C, H, W)
    shift = 0.5 * torch.tanh(torch.tensor([[0.3, -0.2]]))
    expected = transform_images(images[1:2], torch.tensor([0.7]), shift)
    torch.testing.assert_close(rendered[0, 0, 0], expected[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(rendered[1, 0, 0], expected[0], atol=1e-5, rtol=0)  # the bias alone acts

    # A scale s enlarges the prototype about its centre, P(p / s): a centred blob of std 0.25
    # (normalised units) gets std 0.25 s, so about s^2 = 2.25 times the mass (less what
    # falls outside the image), up to bilinear resampling.
    grid = pixel_grid(SIZE)
    blob = torch.exp(-(grid**2).sum(1) / (2 * 0.25**2)).reshape(1, 1, SIZE, SIZE)
    with torch.no_grad():
        model.prototypes.copy_(blob)
        model.output.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 10.0]))  # s = 1.5 (the bound)
    scale = float(model.transformation_parameters(images[:1])["scale"][0, 0, 0].detach())
    assert scale == pytest.approx(1.5, rel=1e-4)
    scaled = model.transformed_prototypes(images[:1])[0, 0, 0].detach()
    expected = torch.exp(-(grid**2).sum(1) / (2 * (0.25 * 1.5) ** 2)).reshape(1, SIZE, SIZE)
    torch.testing.assert_close(scaled, expected, atol=0.05, rtol=0)
    assert float(scaled.sum() / blob.sum()) == pytest.approx(float(expected.sum() / blob.sum()), rel=0.01)
    assert float(scaled.sum() / blob.sum()) == pytest.approx(1.5**2, rel=0.03)


def test_residual_rotation_matches_geometry_and_has_a_gradient_at_zero():
    model = DTIClustering(2, SIZE, ("rotation",), rotation_hypotheses=4, hidden=128)
    images, _, _ = rotated_shapes(count=3)
    with torch.no_grad():
        model.prototypes.copy_(images[:2])
    rendered = model.transformed_prototypes(images)  # residual 0: the base angles 0, pi/2, pi, 3pi/2
    for r in range(4):
        expected = transform_images(images[:2], torch.full((2,), r * math.pi / 2))
        torch.testing.assert_close(rendered[0, :, r], expected, atol=1e-5, rtol=0)
    errors, _ = model.reconstruction_errors(images)
    errors.min(dim=-1).values.mean().backward()
    assert model.output.weight.grad.abs().sum() > 0  # the zero-initialised angle still learns
    # (geometry.rotation_matrices rounds sin/cos near quarter turns, so its gradient vanishes there)
    angle = torch.zeros(1, requires_grad=True)
    rotation_matrices(angle).sum().backward()
    assert float(angle.grad) == 0.0


@pytest.mark.learned
def test_rotation_dti_beats_identity_on_rotated_shapes():
    """Over three seeds, rotation DTI (4 base angles per prototype, the project's default)
    sorts a bar from an L under full turns, which k-means (identity DTI) cannot.

    Measured over 3 data seeds x 4 model seeds: identity ACC 0.51-0.77, rotation with 4
    hypotheses 1.0 every time, its mean error 0.1-0.45 of identity's. A single learned
    angle starting from 0 (the paper's DTI) is a coin toss under full turns (ACC 0.51-0.99
    over the same seeds, depending on the CPU's kernels too), so it is not asserted here."""
    images, labels, _ = rotated_shapes()
    identity_acc, rotation_acc, error_ratio = [], [], []
    for seed in range(3):
        scores = {}
        for name, transformations, hypotheses, lr in (
            ("identity", ("identity",), 1, 0.02), ("rotation", ("rotation",), 4, 0.01),
        ):
            model = DTIClustering.from_data(
                images, 2, transformations, rotation_hypotheses=hypotheses, seed=seed, hidden=128
            )
            adam_steps(model, images, steps=100, lr=lr)
            result = model.assign(images)
            scores[name] = (clustering_accuracy(labels, result.clusters), float(result.errors.mean()))
        identity_acc.append(scores["identity"][0])
        rotation_acc.append(scores["rotation"][0])
        error_ratio.append(scores["rotation"][1] / scores["identity"][1])
    assert min(rotation_acc) >= 0.95, rotation_acc
    assert np.mean(identity_acc) <= 0.75, identity_acc
    assert np.mean(error_ratio) < 0.5, error_ratio


@pytest.mark.learned
def test_rotation_hypotheses_align_full_turns_quickly():
    """With 4 base angles the residual angle stays within +-45 degrees: reliable on full turns."""
    images, labels, _ = rotated_shapes(count=120)
    model = DTIClustering.from_data(
        images, 2, ("rotation", "translation", "scale"), rotation_hypotheses=4, seed=0, hidden=128
    )
    adam_steps(model, images, steps=30, lr=0.003, batch_size=32)
    assert clustering_accuracy(labels, model.assign(images).clusters) >= 0.95


# ------------------------------------------------------------------------- empty clusters


@pytest.mark.learned
def test_reassigning_an_empty_cluster_gives_it_members_again():
    images, labels, means = blobs()
    model = DTIClustering(3, (1, 4, 4), ("identity",), reassign_noise=0.01)
    with torch.no_grad():  # one prototype on blob 0, one between blobs 1 and 2, one far away
        model.prototypes.copy_(torch.stack([means[0], (means[1] + means[2]) / 2, means[0] + 100]))
    counts = torch.bincount(model.assign(images).clusters, minlength=3)
    assert counts[2] == 0 and counts[1] == 80
    reseeded = model.reassign_empty_clusters(images, generator=torch.Generator().manual_seed(0))
    assert reseeded == [2]
    counts = torch.bincount(model.assign(images).clusters, minlength=3)
    assert bool((counts > 0).all())
    adam_steps(model, images, steps=100, lr=0.05)
    assert clustering_accuracy(labels, model.assign(images).clusters) == 1.0


def test_reassignment_resets_the_transformation_of_that_cluster():
    images, _, _ = rotated_shapes(count=40)
    model = DTIClustering(3, SIZE, ("rotation", "translation"), rotation_hypotheses=2, hidden=128)
    with torch.no_grad():
        model.prototypes.copy_(torch.stack([images[0], images[1], torch.full_like(images[0], 50.0)]))
        model.output.bias.normal_()
        model.output.weight.normal_(std=0.01)
    before_weight, before_bias = model.output.weight.detach().clone(), model.output.bias.detach().clone()
    assert model.reassign_empty_clusters(images) == [2]
    rows = slice(2 * 2 * 3, 3 * 2 * 3)  # cluster 2: 2 hypotheses x 3 parameters
    assert torch.all(model.output.weight[rows] == 0) and torch.all(model.output.bias[rows] == 0)
    torch.testing.assert_close(model.output.weight[: rows.start], before_weight[: rows.start])
    torch.testing.assert_close(model.output.bias[: rows.start], before_bias[: rows.start])


@pytest.mark.learned
def test_reassignment_during_training():
    images, labels, means = blobs()
    model = DTIClustering(3, (1, 4, 4), ("identity",), reassign_every=5)
    with torch.no_grad():
        model.prototypes.copy_(torch.stack([means[0], (means[1] + means[2]) / 2, means[0] + 100]))
    adam_steps(model, images, steps=120, lr=0.05)
    assert clustering_accuracy(labels, model.assign(images).clusters) == 1.0


# ----------------------------------------------------------------------------- bad inputs


def test_bad_inputs_name_the_argument():
    images, _, _ = blobs(per_blob=2)
    with pytest.raises(ValueError, match="images.*fewer than n_clusters"):
        DTIClustering.from_data(images[:2], 3, ("identity",))
    with pytest.raises(ValueError, match="transformations"):
        DTIClustering(2, 4, ("identity", "rotation"))
    with pytest.raises(ValueError, match="transformations"):
        DTIClustering(2, 4, ("shear",))
    with pytest.raises(ValueError, match="image_shape"):
        DTIClustering(2, (4, 4))
    with pytest.raises(ValueError, match="rotation_hypotheses"):
        DTIClustering(2, 4, rotation_hypotheses=0)
    model = DTIClustering(2, (1, 4, 4), ("identity",))
    with pytest.raises(ValueError, match="images must have shape"):
        model.assign(torch.zeros(3, 1, 5, 5))
    bad = images.clone()
    bad[0, 0, 0, 0] = math.nan
    with pytest.raises(ValueError, match="images contains NaN"):
        model.assign(bad)
    with pytest.raises(ValueError, match="batch must have shape"):
        model.training_losses(torch.zeros(3, 16), torch.Generator())
    with pytest.raises(ValueError, match="method"):
        model.initialise_prototypes(images, "random")


def test_dti_plugs_into_the_training_loop():
    from irl_inr.training import TrainingConfig, fit

    images, labels, _ = blobs()
    model = DTIClustering.from_data(images, 3, ("identity",), seed=0)
    config = TrainingConfig(epochs=3, batch_size=40, learning_rate=0.05, device="cpu", seed=0)
    result = fit(model, images, config, progress=False)
    assert {"total", "mse"} <= set(result.history.columns)
    assert result.history["total"].iloc[-1] < result.history["total"].iloc[0]


def test_colour_prototypes_are_transformed_alike_in_every_channel():
    """DTI on (N, 3, H, W) images: three-channel prototypes, a transformation network that
    reads the three channels, and one transformation per prototype for all its channels
    (a colour image of scaled copies of a grey one reconstructs as scaled copies)."""
    from irl_inr.training import TrainingConfig, fit

    grey, _, _ = rotated_shapes(32)
    scales = torch.tensor([1.0, 0.5, 0.25]).view(1, 3, 1, 1)
    colour = grey * scales
    model = DTIClustering.from_data(colour, 2, ("rotation", "translation"), rotation_hypotheses=2, seed=0,
                                    channels=(4,), hidden=8)
    assert model.prototypes.shape == (2, 3, SIZE, SIZE) and model.transformer[0].in_channels == 3
    fit(model, colour, TrainingConfig(epochs=1, batch_size=16, learning_rate=0.01, device="cpu", seed=0),
        progress=False)
    result = model.assign(colour, batch_size=8)
    assert result.clusters.shape == (32,) and result.reconstructions.shape == (32, 3, SIZE, SIZE)
    with torch.no_grad():
        model.prototypes.copy_(model.prototypes[:, :1] * scales[0])  # channels: scaled copies of the first
    rendered = model.assign(colour, batch_size=8).reconstructions
    torch.testing.assert_close(rendered, rendered[:, :1] * scales, atol=1e-6, rtol=1e-5)
