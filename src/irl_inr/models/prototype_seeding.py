"""Seeding of DTI's prototypes from the images themselves: k-means++ (Arthur and
Vassilvitskii, 2007), each next seed drawn with probability proportional to the squared
distance to the nearest seed chosen so far."""

from __future__ import annotations

import torch

from irl_inr.models.checks import positive_int


@torch.no_grad()
def kmeans_plus_plus(data: torch.Tensor, n_clusters: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """k-means++ seeding: indices (n_clusters,) of distinct rows of ``data`` (M, D).

    The first row is uniform; each next one is drawn with probability proportional to
    its squared distance to the nearest row chosen so far (uniform among the rows not
    chosen when all distances are 0).  Runs on the CPU (the generator must be a CPU one)."""
    data = data.detach().reshape(data.shape[0], -1).float().cpu()
    count = data.shape[0]
    n_clusters = positive_int(n_clusters, "n_clusters")
    if count < n_clusters:
        raise ValueError(f"data: {count} samples are fewer than n_clusters = {n_clusters}")
    chosen = [int(torch.randint(count, (1,), generator=generator))]
    nearest = ((data - data[chosen[0]]) ** 2).sum(1)
    for _ in range(1, n_clusters):
        weights = nearest.clone()
        weights[chosen] = 0
        if float(weights.sum()) <= 0:
            weights = torch.ones(count)
            weights[chosen] = 0
        index = int(torch.multinomial(weights, 1, generator=generator))
        chosen.append(index)
        nearest = torch.minimum(nearest, ((data - data[index]) ** 2).sum(1))
    return torch.tensor(chosen, dtype=torch.long)
