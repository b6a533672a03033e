"""The classical clustering baselines: what each one sees and what it cannot."""

from __future__ import annotations

import numpy as np
import pytest

from irl_inr import baselines
from irl_inr.metrics import clustering_accuracy


def directions_with_random_norms(per_class: int = 60, seed: int = 0):
    """Two classes that differ only by direction (0 and 40 degrees, +-3), each point scaled
    by a norm uniform in [0.2, 5]: what a contrastive code looks like."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(2), per_class)
    angles = labels * np.radians(40) + rng.normal(0, np.radians(3), len(labels))
    norms = rng.uniform(0.2, 5.0, len(labels))
    return np.stack([np.cos(angles), np.sin(angles)], axis=1) * norms[:, None], labels


def test_spherical_kmeans_ignores_the_norm_that_splits_raw_kmeans():
    features, labels = directions_with_random_norms()
    assert clustering_accuracy(labels, baselines.spherical_kmeans(features, 2)) == 1.0
    assert clustering_accuracy(labels, baselines.kmeans(features, 2)) < 0.8  # split by norm


def two_rings(per_ring: int = 150, seed: int = 0):
    """Two concentric rings (radii 1 and 3): separable by a neighbour graph, not by k-means."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], per_ring)
    angles = rng.uniform(0, 2 * np.pi, len(labels))
    radii = np.where(labels == 0, 1.0, 3.0) + rng.normal(0, 0.05, len(labels))
    return np.stack([np.cos(angles), np.sin(angles)], axis=1) * radii[:, None], labels


def exact_neighbours(points: np.ndarray, k: int) -> np.ndarray:
    distances = ((points[:, None] - points[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    return np.argsort(distances, axis=1)[:, :k]


def test_spectral_clustering_of_the_neighbour_graph_follows_connectivity():
    points, labels = two_rings()
    clusters = baselines.spectral_neighbour_graph(exact_neighbours(points, 8), 2)
    assert clustering_accuracy(labels, clusters) == 1.0
    assert clustering_accuracy(labels, baselines.kmeans(points, 2)) < 0.7


def test_neighbour_graph_is_symmetric_without_self_loops():
    neighbours = np.array([[1, 2], [0, 2], [0, 1], [0, 1]])
    graph = baselines.neighbour_graph(neighbours).toarray()
    np.testing.assert_array_equal(graph, graph.T)
    assert np.all(np.diag(graph) == 0)
    assert graph[0, 3] == 1 and graph[3, 0] == 1  # 3 -> 0 only one way, kept both ways
    assert graph[2, 3] == 0


def test_the_baselines_are_deterministic_for_a_seed():
    features, _ = directions_with_random_norms(seed=1)
    np.testing.assert_array_equal(baselines.spherical_kmeans(features, 2, seed=4),
                                  baselines.spherical_kmeans(features, 2, seed=4))
    neighbours = exact_neighbours(*two_rings(seed=1)[:1], 8)
    np.testing.assert_array_equal(baselines.spectral_neighbour_graph(neighbours, 2, seed=2),
                                  baselines.spectral_neighbour_graph(neighbours, 2, seed=2))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: baselines.kmeans(np.array([[0.0], [np.nan], [1.0]]), 2), "features: NaN or infinite"),
        (lambda: baselines.kmeans(np.zeros((2, 3)), 3), "2 rows are fewer than n_clusters = 3"),
        (lambda: baselines.neighbour_graph(np.array([[1.5], [0.0]])), "integer indices"),
        (lambda: baselines.neighbour_graph(np.array([[1], [2]])), r"outside \[0, 1\]"),
        (lambda: baselines.spectral_neighbour_graph(np.array([[1], [0]]), 3), "2 rows are fewer"),
    ],
)
def test_bad_inputs_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
