"""Tests of irl_inr.metrics: small, hand-checkable cases and a brute-force reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from irl_inr import metrics
from irl_inr.metrics import (
    clustering_accuracy,
    clustering_scores,
    invariance_scores,
    kmeans_scores,
    merge_labels,
    nearest_neighbours,
    neighbour_accuracy,
    pose_error_degrees,
    pose_retrieval_top1,
    rotation_offset,
    translation_error_pixels,
)

# ------------------------------------------------------------------ clustering


def test_accuracy_of_a_permuted_labelling_is_one():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    permutation = np.array([2, 0, 1])
    assert clustering_accuracy(labels, permutation[labels]) == 1.0
    # cluster ids need not be 0..K-1, nor of the labels' type
    assert clustering_accuracy(labels, np.array([7, 7, -1, -1, 30, 30, 30])) == 1.0


def test_accuracy_partial_case_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 1])
    clusters = np.array([0, 0, 1, 1, 1, 1])
    # best map: cluster 0 -> class 0 (2 right), cluster 1 -> class 1 (3 right)
    assert clustering_accuracy(labels, clusters) == pytest.approx(5 / 6)


def test_accuracy_with_more_clusters_than_classes():
    labels = np.array([0, 0, 0, 0, 1, 1])
    clusters = np.array([0, 0, 1, 1, 2, 2])
    # one-to-one: cluster 0 or 1 -> class 0 (2 right), cluster 2 -> class 1 (2 right);
    # the other cluster of class 0 is unmatched and counts as wrong.
    assert clustering_accuracy(labels, clusters) == pytest.approx(4 / 6)


def test_accuracy_with_fewer_clusters_than_classes():
    labels = np.array([0, 0, 1, 1, 2, 2])
    clusters = np.zeros(6, dtype=int)
    assert clustering_accuracy(labels, clusters) == pytest.approx(2 / 6)


def test_scores_of_identical_partitions_are_one():
    labels = np.repeat(np.arange(4), 5)
    scores = clustering_scores(labels, (labels + 1) % 4)
    assert set(scores) == {"acc", "nmi", "ari"}
    assert scores == pytest.approx({"acc": 1.0, "nmi": 1.0, "ari": 1.0})
    assert all(isinstance(value, float) for value in scores.values())


def test_scores_accept_torch_tensors():
    labels = torch.tensor([0, 0, 1, 1])
    assert clustering_scores(labels, torch.tensor([1, 1, 0, 0]))["acc"] == 1.0


def test_merge_labels_treats_six_and_nine_as_one_class():
    labels = np.array([6, 9, 1, 9, 6, 0])
    merged = merge_labels(labels, [(6, 9)])
    np.testing.assert_array_equal(merged, [6, 6, 1, 6, 6, 0])
    np.testing.assert_array_equal(labels, [6, 9, 1, 9, 6, 0])  # input untouched
    # a clustering that cannot tell 6 from 9 is perfect on the merged labels
    clusters = np.array([3, 3, 1, 3, 3, 0])
    assert clustering_accuracy(labels, clusters) < 1.0
    assert clustering_accuracy(merged, clusters) == 1.0


def test_merge_labels_rejects_overlapping_groups():
    with pytest.raises(ValueError, match="groups"):
        merge_labels(np.array([1, 2, 3]), [(1, 2), (2, 3)])


@pytest.mark.parametrize(
    ("labels", "clusters", "match"),
    [
        (np.array([0, 1, 2]), np.array([0, 1]), "same length"),
        (np.array([0.0, np.nan]), np.array([0, 1]), "labels"),
        (np.array([0, 1]), np.array([0.0, np.nan]), "clusters"),
        (np.zeros((2, 2)), np.array([0, 1]), "labels"),
        (np.array([], dtype=int), np.array([], dtype=int), "labels"),
    ],
)
def test_clustering_bad_inputs(labels, clusters, match):
    with pytest.raises(ValueError, match=match):
        clustering_scores(labels, clusters)


def test_kmeans_scores_on_separated_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = np.repeat(np.arange(3), 20)
    features = centres[labels] + rng.normal(scale=0.3, size=(60, 2))
    scores = kmeans_scores(features, labels, n_clusters=3, seed=0)
    assert scores == pytest.approx({"acc": 1.0, "nmi": 1.0, "ari": 1.0})
    # deterministic for a seed; trailing dimensions are flattened
    assert kmeans_scores(features.reshape(60, 1, 2), labels, 3, seed=0) == scores


def test_kmeans_scores_bad_inputs():
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_scores(np.zeros((3, 2)), np.array([0, 1, 2]), n_clusters=4)
    with pytest.raises(ValueError, match="features"):
        kmeans_scores(np.full((3, 2), np.nan), np.array([0, 1, 2]), n_clusters=2)
    with pytest.raises(ValueError, match="same length"):
        kmeans_scores(np.zeros((3, 2)), np.array([0, 1]), n_clusters=2)


# ------------------------------------------------------------------ neighbours


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_faiss_neighbours_equal_brute_force(metric):
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(300, 16)).astype(np.float32)
    fast_idx, fast_sim = nearest_neighbours(codes, 10, metric=metric, backend="faiss")
    ref_idx, ref_sim = nearest_neighbours(codes, 10, metric=metric, backend="numpy")
    assert fast_idx.shape == (300, 10) and fast_sim.shape == (300, 10)
    np.testing.assert_array_equal(fast_idx, ref_idx)
    np.testing.assert_allclose(fast_sim, ref_sim, rtol=1e-4, atol=1e-4)
    assert not (fast_idx == np.arange(300)[:, None]).any()  # self excluded
    assert (np.diff(fast_sim, axis=1) <= 1e-6).all()  # most similar first


def test_neighbours_against_explicit_definition():
    rng = np.random.default_rng(2)
    codes = rng.normal(size=(50, 5))
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    expected = np.argsort(-similarity, axis=1)[:, :3]
    indices, sims = nearest_neighbours(torch.from_numpy(codes), 3)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(sims, np.take_along_axis(similarity, expected, 1), atol=1e-5)

    distance = ((codes[:, None] - codes[None]) ** 2).sum(-1)
    np.fill_diagonal(distance, np.inf)
    indices, sims = nearest_neighbours(codes, 3, metric="euclidean")
    np.testing.assert_array_equal(indices, np.argsort(distance, axis=1)[:, :3])
    np.testing.assert_allclose(-sims, np.sort(distance, axis=1)[:, :3], rtol=1e-4)


def test_neighbours_exclude_self_among_duplicates():
    codes = np.ones((4, 3), dtype=np.float32)
    for backend in ("faiss", "numpy"):
        indices, _ = nearest_neighbours(codes, 3, backend=backend)
        for row in range(4):
            assert sorted(indices[row]) == sorted(set(range(4)) - {row})


def test_neighbours_bad_inputs():
    with pytest.raises(ValueError, match="k must"):
        nearest_neighbours(np.zeros((5, 2)), 5)
    with pytest.raises(ValueError, match="codes"):
        nearest_neighbours(np.zeros(5), 1)
    with pytest.raises(ValueError, match="codes"):
        nearest_neighbours(np.array([[0.0, np.nan], [1.0, 2.0]]), 1)
    with pytest.raises(ValueError, match="codes"):
        nearest_neighbours(np.zeros((1, 2)), 1)
    with pytest.raises(ValueError, match="metric"):
        nearest_neighbours(np.zeros((5, 2)), 1, metric="manhattan")


def test_neighbour_accuracy_by_hand():
    labels = np.array([0, 0, 1, 1])
    neighbours = np.array([[1, 2], [0, 3], [3, 0], [2, 1]])
    # agreeing pairs: (0,1) (1,0) (2,3) (3,2) -> 4 of 8
    assert neighbour_accuracy(labels, neighbours) == 0.5
    assert neighbour_accuracy(labels, np.array([[1], [0], [3], [2]])) == 1.0


def test_neighbour_accuracy_bad_inputs():
    labels = np.array([0, 0, 1])
    with pytest.raises(ValueError, match="neighbour_indices"):
        neighbour_accuracy(labels, np.array([[1], [0], [3]]))
    with pytest.raises(ValueError, match="same length"):
        neighbour_accuracy(labels, np.array([[1], [0]]))
    with pytest.raises(ValueError, match="neighbour_indices"):
        neighbour_accuracy(labels, np.array([1, 0, 2]))


# ------------------------------------------------------------------ invariance


def test_invariance_of_identical_codes_is_one():
    rng = np.random.default_rng(3)
    codes = rng.normal(size=(20, 8))
    reposed = np.stack([codes, 2 * codes, codes])  # scaling does not change cosines
    scores = invariance_scores(codes, reposed)
    assert scores["invariance_cos"] == pytest.approx(1.0)
    assert pose_retrieval_top1(codes, reposed) == 1.0
    # an (N, d) array counts as one re-posed copy; torch works too
    assert invariance_scores(torch.from_numpy(codes), torch.from_numpy(codes)) == scores


def test_half_precision_torch_codes_are_accepted():
    codes = torch.eye(4, dtype=torch.bfloat16)
    assert invariance_scores(codes, codes)["between_cos"] == pytest.approx(0.0)


def test_between_cos_of_orthogonal_codes_is_zero():
    codes = np.eye(6)
    scores = invariance_scores(codes, codes[None])
    assert scores["between_cos"] == pytest.approx(0.0, abs=1e-12)
    assert scores["invariance_cos"] == pytest.approx(1.0)


def test_between_cos_matches_explicit_pairs():
    rng = np.random.default_rng(4)
    codes = rng.normal(size=(30, 4)) + 1.0
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    gram = unit @ unit.T
    expected = (gram.sum() - np.trace(gram)) / (30 * 29)
    reposed = codes[None] + rng.normal(scale=0.1, size=(3, 30, 4))
    unit_reposed = reposed / np.linalg.norm(reposed, axis=2, keepdims=True)
    scores = invariance_scores(codes, reposed)
    assert scores["between_cos"] == pytest.approx(expected, abs=1e-12)
    assert scores["invariance_cos"] == pytest.approx((unit_reposed * unit).sum(-1).mean())


def test_collapsed_codes_fail_retrieval():
    codes = np.ones((10, 3))
    assert invariance_scores(codes, codes[None])["between_cos"] == pytest.approx(1.0)
    assert pose_retrieval_top1(codes, codes[None]) == 0.0  # ties count as misses


def test_retrieval_by_hand():
    original = np.eye(3)
    # copy 0 of image 2 looks like image 0 -> 5 of 6 copies retrieve their own image
    reposed = np.stack([np.array([[1.0, 0.1, 0], [0, 1, 0.1], [1, 0, 0.2]]), np.eye(3)])
    for backend in ("faiss", "numpy"):
        assert pose_retrieval_top1(original, reposed, backend=backend) == pytest.approx(5 / 6)


def test_invariance_bad_inputs():
    codes = np.zeros((4, 3))
    with pytest.raises(ValueError, match="codes_reposed"):
        invariance_scores(codes, np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="codes_original"):
        invariance_scores(np.zeros((1, 3)), np.zeros((1, 1, 3)))
    with pytest.raises(ValueError, match="codes_original"):
        invariance_scores(np.full((4, 3), np.nan), np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="codes_reposed"):
        pose_retrieval_top1(codes, np.zeros((2, 4, 3, 1)))


# ------------------------------------------------------------------------ pose


def test_pose_error_zero_for_constant_offset():
    rng = np.random.default_rng(5)
    true = rng.uniform(0, 2 * math.pi, size=100)
    predicted = np.mod(true + 1.234, 2 * math.pi)  # wraps for many samples
    for align in ("median", "mean"):
        assert pose_error_degrees(true, predicted, align=align) == pytest.approx(0.0, abs=1e-6)
        assert rotation_offset(true, predicted, align=align) == pytest.approx(1.234)
    assert pose_error_degrees(true, predicted, align="none") == pytest.approx(
        math.degrees(1.234)
    )


def test_pose_error_wrap_around():
    true = np.radians([359.0, 1.0, 180.0])
    predicted = np.radians([1.0, 359.0, -179.0])
    assert pose_error_degrees(true, predicted, align="none") == pytest.approx(2.0)
    assert pose_error_degrees(np.radians([359.0]), np.radians([1.0]), align="none") == (
        pytest.approx(2.0)
    )
    # half a turn is the largest error
    assert pose_error_degrees(np.array([0.0]), np.array([math.pi]), align="none") == (
        pytest.approx(180.0)
    )


def test_pose_error_median_alignment_is_robust_to_flips():
    rng = np.random.default_rng(6)
    true = rng.uniform(0, 2 * math.pi, size=200)
    noise = rng.normal(scale=math.radians(2), size=200)
    flips = np.where(np.arange(200) < 60, math.pi, 0.0)  # 30% flipped by 180°
    predicted = true + 0.5 + noise + flips
    assert rotation_offset(true, predicted) == pytest.approx(0.5, abs=math.radians(1))
    error = pose_error_degrees(true, predicted)
    assert 0.5 < error < 3.0  # the flips don't drag the median


def test_pose_error_bad_inputs():
    with pytest.raises(ValueError, match="same length"):
        pose_error_degrees(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="predicted_rotation"):
        pose_error_degrees(np.zeros(2), np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="true_rotation"):
        pose_error_degrees(np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="align"):
        pose_error_degrees(np.zeros(2), np.zeros(2), align="mode")


def test_translation_error_pixels():
    rng = np.random.default_rng(7)
    true = rng.uniform(-0.2, 0.2, size=(50, 2))
    size = 50
    # a constant offset is removed; one pixel = 2 / size
    assert translation_error_pixels(true, true + 0.3, size) == pytest.approx(0.0, abs=1e-12)
    shifted = true + np.array([3.0, 4.0]) * 2 / size
    assert translation_error_pixels(true, shifted, size, align="none") == pytest.approx(5.0)
    # a canonical frame shifted by s appears as R(r) s in an image posed by r
    rotation = rng.uniform(0, 2 * math.pi, size=50)
    s = np.array([0.1, -0.05])
    posed = np.stack(
        [np.cos(rotation) * s[0] - np.sin(rotation) * s[1],
         np.sin(rotation) * s[0] + np.cos(rotation) * s[1]], axis=1
    )
    predicted = true + posed
    assert translation_error_pixels(true, predicted, size) > 1.0
    assert translation_error_pixels(
        true, predicted, size, predicted_rotation=rotation
    ) == pytest.approx(0.0, abs=1e-9)


def test_translation_error_bad_inputs():
    with pytest.raises(ValueError, match="predicted_translation"):
        translation_error_pixels(np.zeros((3, 2)), np.zeros((3, 3)), 50)
    with pytest.raises(ValueError, match="image_size"):
        translation_error_pixels(np.zeros((3, 2)), np.zeros((3, 2)), 0)


def test_public_names_exist():
    for name in metrics.__all__:
        assert callable(getattr(metrics, name))


def test_accuracy_with_6_and_9_merged():
    labels = np.array([6, 6, 9, 9, 1, 1, 1, 1])
    assert metrics.merged_class_accuracy(labels, np.array([0, 0, 1, 1, 2, 2, 2, 2]), (6, 9)) == 1.0  # every digit apart
    lumped = np.array([0, 0, 0, 0, 1, 1, 2, 2])  # 6 with 9, the 1s split in two
    assert metrics.merged_class_accuracy(labels, lumped, (6, 9)) == pytest.approx(6 / 8)
    assert metrics.clustering_accuracy(labels, lumped) == pytest.approx(4 / 8)
    assert metrics.merged_class_accuracy(np.array([0, 1, 1]), np.array([1, 0, 0]), (6, 9)) == 1.0  # no 6 or 9


def test_match_clusters_orders_clusters_by_their_matched_class():
    labels = np.array([0, 0, 1, 1, 2, 2])
    matching = metrics.match_clusters(labels, np.array([5, 5, 3, 3, 3, 7]), cluster_ids=[3, 5, 7, 9])
    assert matching.classes == [0, 1, 2]
    assert matching.clusters[:3] == [5, 3, 7] and matching.clusters[3] == 9  # the unmatched, empty cluster last
    assert matching.class_of == {5: 0, 3: 1, 7: 2}
    assert matching.matched == 5
    assert matching.counts.tolist() == [[2, 0, 0, 0], [0, 2, 0, 0], [0, 1, 1, 0]]
