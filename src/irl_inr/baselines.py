"""Classical clustering baselines that every learned method is measured against.

* :func:`kmeans` — k-means++ with restarts (scikit-learn) on any features.
* :func:`spherical_kmeans` — k-means on L2-normalised rows. A contrastive code lives on a
  sphere (its loss sees only cosines), so this is the fair k-means of such a code; raw
  k-means lets the norm, which carries no class information, split clusters.
* :func:`spectral_neighbour_graph` — spectral clustering of the symmetrised k-nearest-
  neighbour graph that SCAN mines: the classical method on exactly SCAN's input, so SCAN
  must beat it to show that its training adds something.

Each returns integer cluster ids ``(N,)`` in ``[0, n_clusters)``; all are deterministic
for a given ``seed``.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans, SpectralClustering


def _rows(features: np.ndarray, name: str) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    features = features.reshape(len(features), -1)
    if not np.isfinite(features).all():
        raise ValueError(f"{name}: NaN or infinite values")
    return features


def _check_count(count: int, n_clusters: int, name: str) -> None:
    if count < n_clusters:
        raise ValueError(f"{name}: {count} rows are fewer than n_clusters = {n_clusters}")


def kmeans(features: np.ndarray, n_clusters: int, n_init: int = 10, seed: int = 0) -> np.ndarray:
    """k-means++ (``n_init`` restarts, best inertia kept) on the rows of ``features`` (N, ...)."""
    rows = _rows(features, "features")
    _check_count(len(rows), n_clusters, "features")
    model = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed)
    return model.fit_predict(rows).astype(np.int64)


def spherical_kmeans(features: np.ndarray, n_clusters: int, n_init: int = 10, seed: int = 0) -> np.ndarray:
    """k-means on the rows of ``features`` (N, d) scaled to unit length (zero rows stay zero)."""
    rows = _rows(features, "features")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return kmeans(rows / np.maximum(norms, 1e-12), n_clusters, n_init, seed)


def neighbour_graph(neighbours: np.ndarray) -> sparse.csr_matrix:
    """The symmetric 0/1 affinity (N, N) of a k-nearest-neighbour list ``neighbours`` (N, k):
    ``A_ij = 1`` when j is among i's neighbours or i among j's (the diagonal stays 0)."""
    neighbours = np.asarray(neighbours)
    if neighbours.ndim != 2 or neighbours.dtype.kind not in "iu":
        raise ValueError(f"neighbours must be integer indices (N, k), got {neighbours.dtype} {neighbours.shape}")
    count, k = neighbours.shape
    if count and (neighbours.min() < 0 or neighbours.max() >= count):
        raise ValueError(f"neighbours holds indices outside [0, {count - 1}]")
    rows = np.repeat(np.arange(count), k)
    directed = sparse.csr_matrix((np.ones(count * k), (rows, neighbours.ravel())), shape=(count, count))
    graph = directed.maximum(directed.T).tocsr()
    graph.setdiag(0)
    graph.eliminate_zeros()
    return graph


def spectral_neighbour_graph(neighbours: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
    """Spectral clustering (normalised Laplacian embedding, then k-means with 10 restarts)
    of :func:`neighbour_graph` ``(neighbours)``."""
    graph = neighbour_graph(neighbours)
    _check_count(graph.shape[0], n_clusters, "neighbours")
    model = SpectralClustering(
        n_clusters=n_clusters, affinity="precomputed", assign_labels="kmeans", n_init=10, random_state=seed
    )
    return model.fit_predict(graph).astype(np.int64)
