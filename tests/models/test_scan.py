"""SCAN: the loss by hand, several heads, self-labelling, toy problems, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from irl_inr.geometry import pixel_grid
from irl_inr.metrics import clustering_accuracy
from irl_inr.metrics.clustering import pairwise_rand_index
from irl_inr.models.augmentation import AppearanceAugmentation
from irl_inr.models.head_selection import kept_head
from tests.models.shapes import SIZE, rotated_bar_and_ell
from irl_inr.models.clustering_heads import ClusteringHeads, head_clusters
from irl_inr.models.neighbour_pairs import NeighbourPairs
from irl_inr.models.scan import SCANModel
from irl_inr.models.scan_losses import balanced_class_weights, head_scan_losses, scan_loss, selflabel_loss
from irl_inr.models.selflabel import SelfLabelModel



# ------------------------------------------------------------------------ toy problems


def two_blobs(per_blob: int = 100, k: int = 5, seed: int = 0):
    """Two Gaussian blobs in 2-D (centres (+-3, 0), unit std), labels, and each point's
    k true nearest neighbours (itself excluded)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(2 * per_blob) % 2
    centres = torch.tensor([[3.0, 0.0], [-3.0, 0.0]])
    points = centres[labels] + torch.randn(2 * per_blob, 2, generator=generator)
    distances = torch.cdist(points, points)
    distances.fill_diagonal_(math.inf)
    neighbours = distances.topk(k, largest=False).indices
    return points, labels, neighbours




def two_shapes(count: int = 120, seed: int = 0):
    images, labels, _ = rotated_bar_and_ell(count, seed)
    return images, labels


class RadialProfile(nn.Module):
    """A fixed, rotation-invariant feature: the image's mass in 6 soft rings about the centre."""

    def __init__(self, size: int = SIZE, rings: int = 6) -> None:
        super().__init__()
        radius = pixel_grid(size).norm(dim=1)  # (P,)
        centres = torch.linspace(0, 1.2, rings)
        weights = torch.exp(-((radius.unsqueeze(1) - centres) ** 2) / (2 * 0.12**2))  # (P, rings)
        self.register_buffer("weights", weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1) @ self.weights / 10


def same_label_neighbours(labels: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """k random other samples of the same label for every sample (perfect mining)."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for index, label in enumerate(labels.tolist()):
        candidates = [j for j in (labels == label).nonzero().flatten().tolist() if j != index]
        pick = torch.randperm(len(candidates), generator=generator)[:k]
        rows.append(torch.tensor(candidates)[pick])
    return torch.stack(rows)


def adam_steps(model: nn.Module, data: torch.Tensor | NeighbourPairs, steps: int, lr: float, batch_size: int = 64) -> dict:
    """A plain Adam loop that seeds the augmentation generator with the step, like the project loop."""
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    generator = torch.Generator()
    losses = {}
    for step in range(steps):
        generator.manual_seed(step)
        order = torch.randperm(len(data), generator=generator)[:batch_size]
        losses = model.training_losses(data[order], generator)
        optimiser.zero_grad()
        losses["total"].backward()
        optimiser.step()
    return {name: float(value.detach()) for name, value in losses.items()}


# ----------------------------------------------------------------------------- the loss


def test_scan_loss_by_hand_on_three_samples():
    anchor = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    neighbour = torch.tensor([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    # Inner products: 0.9*0.8 + 0.1*0.2 = 0.74, 0.2*0.3 + 0.8*0.7 = 0.62, 0.5*0.6 + 0.5*0.4 = 0.50.
    consistency = -(math.log(0.74) + math.log(0.62) + math.log(0.50)) / 3
    assert consistency == pytest.approx(0.4907627, abs=1e-6)
    # Mean anchor prediction (1.6/3, 1.4/3) = (0.5333, 0.4667).
    entropy = -(1.6 / 3 * math.log(1.6 / 3) + 1.4 / 3 * math.log(1.4 / 3))
    assert entropy == pytest.approx(0.6909233, abs=1e-6)

    losses = scan_loss(anchor, neighbour)  # entropy weight 5 by default
    assert float(losses["consistency"]) == pytest.approx(consistency, abs=1e-6)
    assert float(losses["entropy"]) == pytest.approx(entropy, abs=1e-6)
    assert float(losses["total"]) == pytest.approx(0.4907627 - 5 * 0.6909233, abs=1e-5)  # -2.9638538
    assert float(scan_loss(anchor, neighbour, entropy_weight=2.0)["total"]) == pytest.approx(
        consistency - 2 * entropy, abs=1e-6
    )


def test_scan_loss_stays_finite_on_confident_disagreement():
    anchor = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    losses = scan_loss(anchor, anchor.flip(1))
    assert torch.isfinite(losses["total"])
    assert float(losses["consistency"]) == pytest.approx(-math.log(1e-8), rel=1e-5)


def test_head_scan_losses_are_every_heads_scan_loss():
    generator = torch.Generator().manual_seed(0)
    anchors = torch.softmax(torch.randn(3, 8, 4, generator=generator), dim=-1)  # (H, B, K)
    partners = torch.softmax(torch.randn(3, 8, 4, generator=generator), dim=-1)
    together = head_scan_losses(anchors, partners, entropy_weight=2.0)
    for head in range(3):
        alone = scan_loss(anchors[head], partners[head], entropy_weight=2.0)
        for name, value in alone.items():
            torch.testing.assert_close(together[name][head], value)
    with pytest.raises(ValueError, match=r"anchor_probs must be float probabilities \(H, B, K\)"):
        head_scan_losses(anchors[0], partners[0])
    with pytest.raises(ValueError, match="must have the same shape"):
        head_scan_losses(anchors, partners[:, :5])


def test_scan_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="neighbour_probs"):
        scan_loss(torch.full((3, 2), 0.5), torch.full((3, 4), 0.25))
    with pytest.raises(ValueError, match="entropy_weight"):
        scan_loss(torch.full((3, 2), 0.5), torch.full((3, 2), 0.5), entropy_weight=-1.0)


# ------------------------------------------------------------------------------- heads


def test_clustering_heads_shape_and_single_head_copy():
    heads = ClusteringHeads(feature_dim=4, n_clusters=3, n_heads=5)
    features = torch.randn(7, 4)
    logits = heads(features)
    assert logits.shape == (5, 7, 3)
    linear = heads.head(2)
    torch.testing.assert_close(linear(features), logits[2])
    with pytest.raises(ValueError, match="features"):
        heads(torch.randn(7, 5))


def test_hidden_heads_copy_out_as_the_modules_they_compute():
    """Heads with a hidden layer: each head's units are batch-normalised on their own, and
    head(i) is a Linear-BatchNorm-ReLU-Linear that computes exactly head i, in training
    mode (batch statistics) and in eval mode (the running statistics it copied)."""
    heads = ClusteringHeads(feature_dim=4, n_clusters=3, n_heads=2, hidden=5)
    features = torch.randn(16, 4) * 2 + 1
    for _ in range(3):  # move the running statistics away from their start
        heads(features)
    copies = [heads.head(index) for index in range(2)]
    assert all(isinstance(copy, nn.Sequential) and head_clusters(copy) == 3 for copy in copies)
    heads.eval()
    logits = heads(features)
    for index, copy in enumerate(copies):
        torch.testing.assert_close(copy.eval()(features), logits[index])
    other = heads(torch.cat([features[:8], 10 * features[8:]]))
    torch.testing.assert_close(other[0, :8], logits[0, :8])  # eval: rows do not see each other
    heads.train()
    batch = heads(features)
    torch.testing.assert_close(copies[1].train()(features), batch[1])
    with pytest.raises(ValueError, match="hidden must be a non-negative integer"):
        ClusteringHeads(4, 3, hidden=-1)


def test_every_head_gets_its_own_scan_loss():
    points, _, _ = two_blobs(per_blob=10)
    neighbours = torch.arange(20).roll(1).unsqueeze(1)  # one fixed neighbour each: no randomness
    pairs = NeighbourPairs(points, neighbours)
    model = SCANModel(nn.Identity(), pairs, n_clusters=2, n_heads=3, rotate=False)
    anchors = torch.tensor([0, 3, 5, 8, 13, 19])
    losses = model.training_losses(pairs[anchors], torch.Generator().manual_seed(0))
    assert {"total", "consistency", "entropy", "head_0", "head_1", "head_2"} <= set(losses)
    per_head = []
    for head in range(3):
        probs = torch.softmax(points @ model.heads.weight[head] + model.heads.bias[head], dim=1)
        expected = scan_loss(probs[anchors], probs[neighbours[anchors, 0]])
        per_head.append(float(expected["total"].detach()))
        assert float(losses[f"head_{head}"]) == pytest.approx(per_head[-1], abs=1e-5)
    assert float(losses["total"].detach()) == pytest.approx(sum(per_head), abs=1e-5)
    assert len(set(round(v, 4) for v in per_head)) == 3  # heads differ

    head_losses = model.head_losses(pairs)
    assert head_losses.shape == (3,)
    assert model.best_head(pairs, rule="loss") == int(head_losses.argmin())
    assert int(model.selected_head) == int(head_losses.argmin())


# --------------------------------------------------------------------- self-labelling


def test_balanced_class_weights_by_hand():
    # Pseudo-labels 0, 0, 0, 1 of K = 3: M = 4 samples, 2 classes present.
    weights = balanced_class_weights(torch.tensor([0, 0, 0, 1]), 3)
    torch.testing.assert_close(weights, torch.tensor([4 / (2 * 3), 4 / (2 * 1), 0.0]))  # 2/3, 2, 0
    masked = balanced_class_weights(torch.tensor([0, 0, 0, 1, 2]), 3, torch.tensor([1, 1, 1, 1, 0]).bool())
    torch.testing.assert_close(masked, weights)


def test_selflabel_loss_by_hand_with_class_balance():
    weak = torch.tensor(
        [
            [0.995, 0.003, 0.002],  # confident, label 0
            [0.992, 0.004, 0.004],  # confident, label 0
            [0.999, 0.0005, 0.0005],  # confident, label 0
            [0.001, 0.998, 0.001],  # confident, label 1
            [0.5, 0.2, 0.3],  # not confident
        ]
    )
    strong = torch.tensor([[2.0, 0, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 5]], requires_grad=True)
    # Cross-entropies against the pseudo-labels:
    l0 = math.log(1 + 2 * math.exp(-2))  # 0.2395448
    l1 = math.log(3)  # 1.0986123
    l2 = math.log(1 + 2 / math.e)  # 0.5514448
    l3 = math.log(1 + 2 / math.e)  # 0.5514448
    # Class weights 4 / (2 * 3) = 2/3 for label 0 and 4 / (2 * 1) = 2 for label 1, mean over the 4.
    balanced = (2 / 3 * (l0 + l1 + l2) + 2 * l3) / 4
    assert balanced == pytest.approx(0.5906560, abs=1e-6)

    losses = selflabel_loss(weak, strong, threshold=0.99)
    assert float(losses["total"].detach()) == pytest.approx(balanced, abs=1e-6)
    assert float(losses["confident_share"]) == pytest.approx(0.8)
    losses["total"].backward()
    assert torch.all(strong.grad[4] == 0)  # the unconfident sample gives no gradient

    plain = selflabel_loss(weak, strong.detach(), threshold=0.99, class_balance=False)
    assert float(plain["total"]) == pytest.approx((l0 + l1 + l2 + l3) / 4, abs=1e-6)  # 0.6102616


def test_selflabel_loss_is_zero_without_confident_samples():
    weak = torch.full((4, 3), 1 / 3)
    strong = torch.randn(4, 3, requires_grad=True)
    losses = selflabel_loss(weak, strong, threshold=0.99, n_clusters=3)
    assert float(losses["total"].detach()) == 0.0
    assert float(losses["confident_share"]) == 0.0
    losses["total"].backward()
    assert torch.isfinite(strong.grad).all() and torch.all(strong.grad == 0)
    with pytest.raises(ValueError, match="n_clusters"):
        selflabel_loss(weak, strong, n_clusters=4)
    with pytest.raises(ValueError, match="threshold"):
        selflabel_loss(weak, strong, threshold=1.5)


# ------------------------------------------------------------------------- toy problems


@pytest.mark.learned
def test_scan_learns_two_blobs():
    points, labels, neighbours = two_blobs()
    pairs = NeighbourPairs(points, neighbours)
    model = SCANModel(nn.Identity(), pairs, n_clusters=2, n_heads=3, rotate=False)
    losses = adam_steps(model, pairs, steps=60, lr=0.05)
    model.best_head(pairs)
    assert losses["entropy"] > 0.65  # both clusters used (log 2 = 0.693)
    clusters = model.predict(points).argmax(1)
    assert clustering_accuracy(labels, clusters) >= 0.95


def test_scan_training_losses_are_reproducible_from_the_generator():
    images, labels = two_shapes(count=24)
    pairs = NeighbourPairs(images, same_label_neighbours(labels, 3))
    model = SCANModel(RadialProfile(), pairs, n_clusters=2, n_heads=2, max_shift=0.1)
    batch = pairs[torch.arange(8)]
    first = model.training_losses(batch, torch.Generator().manual_seed(5))
    again = model.training_losses(batch, torch.Generator().manual_seed(5))
    other = model.training_losses(batch, torch.Generator().manual_seed(6))
    for name in first:
        assert torch.equal(first[name], again[name])
    assert not torch.equal(first["consistency"], other["consistency"])


def test_strong_view_photometric_augmentation():
    from irl_inr.models.augmentation import photometric

    images = torch.ones(6, 1, SIZE, SIZE)
    out = photometric(images, torch.Generator().manual_seed(0), contrast=0.0, noise_std=0.0, cutout_size=0.25)
    zeros = (out == 0).flatten(1).sum(1)
    assert bool(((zeros > 0) & (zeros <= 16)).all())  # at most a 4x4 square of a 16x16 image
    assert bool(((out == 0) | (out == 1)).all())
    noisy = photometric(images, torch.Generator().manual_seed(0), contrast=0.2, noise_std=0.0, cutout_size=0.0)
    factors = noisy.flatten(1)[:, 0]
    assert bool(((factors >= 0.8) & (factors <= 1.2)).all()) and factors.std() > 0
    torch.testing.assert_close(noisy, factors.reshape(6, 1, 1, 1).expand_as(noisy))


@pytest.mark.learned
def test_scan_then_selflabel_on_rotated_shapes():
    images, labels = two_shapes()
    pairs = NeighbourPairs(images, same_label_neighbours(labels, 5))
    model = SCANModel(RadialProfile(), pairs, n_clusters=2, n_heads=2)
    adam_steps(model, pairs, steps=60, lr=0.1)
    model.best_head(pairs)
    scan_accuracy = clustering_accuracy(labels, model.predict(images).argmax(1))
    assert scan_accuracy >= 0.95

    selflabel = SelfLabelModel.from_scan(model, threshold=0.9, noise_std=0.02)
    assert selflabel.rotate and selflabel.max_shift == 0.0
    losses = adam_steps(selflabel, images, steps=20, lr=0.01, batch_size=32)
    assert 0.0 <= losses["confident_share"] <= 1.0 and math.isfinite(losses["total"])
    assert clustering_accuracy(labels, selflabel.predict(images).argmax(1)) >= scan_accuracy - 0.02


def test_scan_model_plugs_into_the_training_loop(tmp_path):
    from irl_inr.training import TrainingConfig, fit

    points, labels, neighbours = two_blobs(per_blob=40)
    pairs = NeighbourPairs(points, neighbours)
    model = SCANModel(nn.Identity(), pairs, n_clusters=2, n_heads=2, rotate=False)
    config = TrainingConfig(epochs=2, batch_size=32, learning_rate=0.05, device="cpu", seed=1)
    result = fit(model, pairs, config, progress=False)
    assert {"total", "head_0", "head_1"} <= set(result.history.columns)
    assert result.step == 2 * (80 // 32)


def blobs(centres: torch.Tensor, per_blob: int, k: int, seed: int = 0):
    """Points around ``centres`` (C, d) with unit std, their labels, and each point's k true
    nearest neighbours (itself excluded)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(centres) * per_blob) % len(centres)
    points = centres[labels] + torch.randn(len(labels), centres.shape[1], generator=generator)
    distances = torch.cdist(points, points)
    distances.fill_diagonal_(math.inf)
    return points, labels, distances.topk(k, largest=False).indices


def test_the_heads_are_judged_on_the_clusters_they_predict():
    points, _, neighbours = two_blobs(per_blob=15)
    pairs = NeighbourPairs(points, neighbours)
    model = SCANModel(nn.Identity(), pairs, n_clusters=2, n_heads=4, rotate=False)
    losses, assignments = model.judge_heads(pairs, batch_size=7)
    torch.testing.assert_close(losses, model.head_losses(pairs))
    assert torch.equal(assignments, model.all_head_probabilities(points).argmax(-1))  # (H, N)
    kept = model.best_head(pairs)
    assert kept == kept_head("agreement", losses, pairwise_rand_index(assignments)) == model.chosen_head()
    with pytest.raises(ValueError, match="rule must be one of"):
        model.best_head(pairs, rule="acc")


@pytest.mark.learned
def test_any_seed_gives_the_same_partition_of_well_separated_codes():
    from irl_inr.training import TrainingConfig, fit

    corners = torch.tensor([[4.0, 4.0], [4.0, -4.0], [-4.0, 4.0], [-4.0, -4.0]])
    points, labels, neighbours = blobs(corners, per_blob=50, k=10)
    pairs = NeighbourPairs(points, neighbours)
    partitions = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = SCANModel(nn.Identity(), pairs, n_clusters=4, n_heads=5, rotate=False, head_hidden=16)
        fit(model, pairs, TrainingConfig(epochs=15, batch_size=50, learning_rate=0.01, device="cpu", seed=seed),
            progress=False)
        model.best_head(pairs)
        partitions.append(model.predict(points).argmax(1))
    np.testing.assert_allclose(pairwise_rand_index(torch.stack(partitions)), np.ones((3, 3)))
    assert clustering_accuracy(labels, partitions[0]) >= 0.97


class CountingFeatures(nn.Module):
    """Features that scale the input by 3 (not unit length) and count their calls."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return 3 * self.inner(images)


def test_cached_views_encode_each_pose_once_and_train_without_the_encoder():
    images, labels = two_shapes(count=24)
    features = CountingFeatures(RadialProfile())
    pairs = NeighbourPairs(images, same_label_neighbours(labels, 3))
    model = SCANModel(features, pairs, n_clusters=2, n_heads=2, max_shift=0.1, cached_views=3, normalise_features=True)
    assert model.view_features.shape == (24, 3, model.heads.feature_dim)
    torch.testing.assert_close(model.view_features.norm(dim=-1), torch.ones(24, 3))  # unit codes cached
    assert not torch.equal(model.view_features[:, 0], model.view_features[:, 1])  # three different poses
    calls = features.calls
    losses = model.training_losses(pairs[torch.arange(8)], torch.Generator().manual_seed(0))
    assert features.calls == calls and torch.isfinite(losses["total"])
    again = SCANModel(CountingFeatures(RadialProfile()), pairs, n_clusters=2, n_heads=2, max_shift=0.1, cached_views=3,
                      normalise_features=True)
    torch.testing.assert_close(again.view_features, model.view_features)  # the poses come from view_seed


def test_appearance_augmentation_changes_the_cached_views_and_nothing_without_it():
    images, labels = two_shapes(count=24)
    pairs = NeighbourPairs(images, same_label_neighbours(labels, 3))
    settings = dict(n_clusters=2, n_heads=2, max_shift=0.1, cached_views=3)
    posed = SCANModel(RadialProfile(), pairs, **settings)
    # A disabled augmentation is no augmentation: the same poses, the same codes.
    unchanged = SCANModel(RadialProfile(), pairs, **settings, appearance=AppearanceAugmentation())
    torch.testing.assert_close(unchanged.view_features, posed.view_features)
    distorted = SCANModel(RadialProfile(), pairs, **settings, appearance=AppearanceAugmentation(scale=0.3, mirror=True))
    # The poses are drawn first from the same seed, then the distortion: the first view differs
    # from the pose-only one only by the distortion (a ring profile moves with the scale).
    assert distorted.view_features.shape == posed.view_features.shape
    assert not torch.allclose(distorted.view_features, posed.view_features, atol=1e-3)
    again = SCANModel(RadialProfile(), pairs, **settings, appearance=AppearanceAugmentation(scale=0.3, mirror=True))
    torch.testing.assert_close(again.view_features, distorted.view_features)  # seeded by view_seed


def test_appearance_augmentation_reaches_fresh_views_too():
    images, labels = two_shapes(count=16)
    pairs = NeighbourPairs(images, same_label_neighbours(labels, 3))
    seen = []

    class Recorder(nn.Module):
        def forward(self, batch):
            seen.append(batch.clone())
            return RadialProfile()(batch)

    for appearance in (None, AppearanceAugmentation(scale=0.3)):
        model = SCANModel(Recorder(), pairs, n_clusters=2, rotate=False, appearance=appearance)
        seen.clear()
        model.training_losses(pairs[torch.arange(8)], torch.Generator().manual_seed(0))
        anchors = seen[-1][:8]
        if appearance is None:
            torch.testing.assert_close(anchors, images[:8])  # no pose, no distortion: the images
        else:
            assert not torch.allclose(anchors, images[:8])  # rescaled about the centre of mass


def test_normalised_features_reach_the_heads_at_unit_length():
    points, _, neighbours = two_blobs(per_blob=10, k=3)
    model = SCANModel(CountingFeatures(nn.Identity()), NeighbourPairs(points, neighbours), 2, 1, rotate=False,
                      normalise_features=True)
    unit = points / points.norm(dim=1, keepdim=True)
    expected = torch.softmax(model.heads(unit)[0], dim=-1)
    torch.testing.assert_close(model.predict(points, head=0), expected)
    selflabel = SelfLabelModel.from_scan(model, head=0)
    assert selflabel.normalise_features
    torch.testing.assert_close(selflabel.predict(points), expected)


@pytest.mark.learned
def test_cached_views_learn_the_rotated_shapes():
    images, labels = two_shapes()
    pairs = NeighbourPairs(images, same_label_neighbours(labels, 5))
    model = SCANModel(RadialProfile(), pairs, n_clusters=2, n_heads=2, cached_views=4, normalise_features=True)
    adam_steps(model, pairs, steps=60, lr=0.1)
    model.best_head(pairs)
    assert clustering_accuracy(labels, model.predict(images).argmax(1)) >= 0.95


def test_frozen_features_stay_frozen_and_in_eval_mode():
    features = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4))
    points, _, neighbours = two_blobs(per_blob=10, k=3)
    model = SCANModel(features, NeighbourPairs(points, neighbours), n_clusters=2, n_heads=1, rotate=False)
    model.train()
    assert not features.training
    assert not any(p.requires_grad for p in features.parameters())
    trained = SCANModel(
        nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4)), NeighbourPairs(points, neighbours), 2, 1, rotate=False,
        train_features=True,
    )
    trained.train()
    assert trained.features.training


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs_name_the_argument():
    points, _, neighbours = two_blobs(per_blob=5, k=3)
    identity = nn.Identity()
    with pytest.raises(TypeError, match="appearance must be an AppearanceAugmentation"):
        SCANModel(nn.Identity(), NeighbourPairs(points, neighbours), 2, rotate=False, appearance={"scale": 0.1})
    with pytest.raises(ValueError, match="appearance augmentation"):
        SCANModel(nn.Identity(), NeighbourPairs(points, neighbours), 2, rotate=False,
                  appearance=AppearanceAugmentation(scale=0.1))
    with pytest.raises(ValueError, match="cached_views needs frozen features"):
        SCANModel(nn.Identity(), NeighbourPairs(points, neighbours), 2, rotate=False, train_features=True, cached_views=2)
    with pytest.raises(ValueError, match="cached_views must be a non-negative integer"):
        SCANModel(nn.Identity(), NeighbourPairs(points, neighbours), 2, rotate=False, cached_views=-1)
    with pytest.raises(ValueError, match="images.*fewer than n_clusters"):
        SCANModel(identity, NeighbourPairs(points[:3], neighbours[:3, :1] % 3), n_clusters=4, rotate=False)
    with pytest.raises(ValueError, match="neighbours has k = 10"):
        SCANModel(identity, NeighbourPairs(points, torch.zeros(10, 10, dtype=torch.long)), n_clusters=2, rotate=False)
    bad = neighbours.clone()
    bad[0, 0] = 10
    with pytest.raises(ValueError, match="neighbours holds indices"):
        SCANModel(identity, NeighbourPairs(points, bad), n_clusters=2, rotate=False)
    with pytest.raises(ValueError, match="neighbours must have shape"):
        SCANModel(identity, NeighbourPairs(points, neighbours[:5]), n_clusters=2, rotate=False)
    with pytest.raises(ValueError, match="neighbours must hold integer"):
        SCANModel(identity, NeighbourPairs(points, neighbours.float()), n_clusters=2, rotate=False)
    nan_points = points.clone()
    nan_points[2, 1] = math.nan
    with pytest.raises(ValueError, match="images contains NaN"):
        SCANModel(identity, NeighbourPairs(nan_points, neighbours), n_clusters=2, rotate=False)

    class NaNFeatures(nn.Module):
        def forward(self, x):
            return x * math.nan

    with pytest.raises(ValueError, match="features"):
        SCANModel(NaNFeatures(), NeighbourPairs(points, neighbours), n_clusters=2, rotate=False)
    with pytest.raises(ValueError, match=r"images must have shape \(N, C, H, W\)"):
        SCANModel(identity, NeighbourPairs(points, neighbours), n_clusters=2)  # rotation needs images

    pairs = NeighbourPairs(points, neighbours)
    model = SCANModel(identity, pairs, n_clusters=2, rotate=False)
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="batch"):
        model.training_losses(pairs[torch.tensor([0, 10])], generator)
    with pytest.raises(ValueError, match="batch"):
        model.training_losses(pairs[torch.tensor([0.5])], generator)
    with pytest.raises(ValueError, match="batch"):
        model.training_losses(points, generator)
    with pytest.raises(ValueError, match="batch indexes 5 images"):
        model.training_losses(NeighbourPairs(points[:5], neighbours[:5] % 5)[torch.tensor([0])], generator)
    with pytest.raises(ValueError, match="no head chosen"):
        model.predict(points)
    with pytest.raises(ValueError, match="images contains NaN"):
        model.predict(torch.full((2, 2), math.inf), head=0)
    with pytest.raises(ValueError, match="head"):
        model.predict(points, head=10)


def test_fine_tuned_features_learn_at_their_share_of_the_heads_rate():
    from irl_inr.training.loop import optimiser_groups

    points, _, neighbours = two_blobs(per_blob=10, k=3)
    features = nn.Linear(2, 4)
    model = SCANModel(features, NeighbourPairs(points, neighbours), 2, 2, rotate=False, train_features=True,
                      features_learning_rate_scale=0.25)
    heads, trained = optimiser_groups(model, 0.1)
    assert trained["lr"] == pytest.approx(0.025) and heads["lr"] == pytest.approx(0.1)
    assert {id(p) for p in trained["params"]} == {id(p) for p in features.parameters()}
    assert {id(p) for p in heads["params"]} == {id(p) for p in model.heads.parameters()}
    frozen = SCANModel(nn.Linear(2, 4), NeighbourPairs(points, neighbours), 2, 2, rotate=False)
    assert [group["lr"] for group in optimiser_groups(frozen, 0.1)] == [0.1]  # no features to train


def test_predictions_read_the_encoders_code_averaged_over_its_turns():
    """SCAN's head choice and predictions and self-labelling's predictions read an IRL-INR
    encoder's codes as the pipeline does (``Encoder.encode``, the mean over its turns),
    not one pass; training views stay single passes."""
    from irl_inr.inference import cluster_probabilities
    from irl_inr.models.encoder import Encoder

    images, labels = two_shapes(count=24)
    torch.manual_seed(0)
    encoder = Encoder("small_cnn", 4, 8, alignment="moments", code_rotations=(-0.35, 0.0, 0.35)).eval()
    pairs = NeighbourPairs(images, same_label_neighbours(labels, 3))
    model = SCANModel(encoder, pairs, n_clusters=2, n_heads=2, cached_views=2, normalise_features=True)
    expected = cluster_probabilities(encoder, model.heads.head(1), images, 8, torch.device("cpu"), normalise=True)
    got = model.predict(images, head=1).numpy()
    torch.testing.assert_close(torch.from_numpy(got), torch.from_numpy(expected), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        one_pass = torch.softmax(model.heads.head(1)(nn.functional.normalize(encoder(images).semantic_code, dim=1)), -1)
    assert (one_pass - torch.from_numpy(got)).abs().max() > 1e-4  # the turns change the prediction
    selflabel = SelfLabelModel.from_scan(model, head=1)
    torch.testing.assert_close(selflabel.predict(images), torch.from_numpy(expected), rtol=1e-5, atol=1e-6)
