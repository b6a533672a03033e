"""Clustering heads: features (B, d) -> K cluster logits, one head or many computed at once."""

from __future__ import annotations

import math

import torch
from torch import nn

from irl_inr.models.checks import positive_int
from irl_inr.parameters import is_int


def clustering_head(feature_dim: int, n_clusters: int, hidden: int = 0) -> nn.Module:
    """One clustering head (B, d) -> (B, K) logits: ``nn.Linear(d, K)``, or with ``hidden``
    units ``Linear(d, h) -> BatchNorm1d(h) -> ReLU -> Linear(h, K)``."""
    if not hidden:
        return nn.Linear(feature_dim, n_clusters)
    return nn.Sequential(
        nn.Linear(feature_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, n_clusters)
    )


def head_clusters(head: nn.Module) -> int:
    """K, the number of outputs of a head built by :func:`clustering_head`."""
    last = head[-1] if isinstance(head, nn.Sequential) else head
    if not isinstance(last, nn.Linear):
        raise TypeError(f"head must be an nn.Linear or end in one, got {type(head).__name__}")
    return last.out_features


class ClusteringHeads(nn.Module):
    """``n_heads`` independent heads ``(B, d) -> (n_heads, B, K)`` logits, computed at once.

    ``hidden = 0``: linear heads, each initialised like ``nn.Linear`` (uniform in
    ``+-1/sqrt(d)``). ``hidden = h``: each head is ``Linear(d, h) -> BatchNorm1d(h) -> ReLU
    -> Linear(h, K)`` (SCAN's heads are linear on a fine-tuned backbone; on a frozen
    encoder the hidden layer is what lets a head reshape the code). :meth:`head` copies
    one head out as the module :func:`clustering_head` builds."""

    def __init__(self, feature_dim: int, n_clusters: int, n_heads: int = 1, hidden: int = 0) -> None:
        super().__init__()
        self.feature_dim = positive_int(feature_dim, "feature_dim")
        self.n_clusters = positive_int(n_clusters, "n_clusters", minimum=2)
        self.n_heads = positive_int(n_heads, "n_heads")
        if not is_int(hidden) or hidden < 0:
            raise ValueError(f"hidden must be a non-negative integer, got {hidden!r}")
        self.hidden = hidden
        width = hidden or feature_dim  # inputs of the last layer
        if hidden:
            bound = 1 / math.sqrt(feature_dim)
            self.hidden_weight = nn.Parameter(torch.empty(n_heads, feature_dim, hidden).uniform_(-bound, bound))
            self.hidden_bias = nn.Parameter(torch.empty(n_heads, hidden).uniform_(-bound, bound))
            self.norm = nn.BatchNorm1d(n_heads * hidden)  # each head's units normalised on their own
        bound = 1 / math.sqrt(width)
        self.weight = nn.Parameter(torch.empty(n_heads, width, n_clusters).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_heads, n_clusters).uniform_(-bound, bound))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(f"features must have shape (B, {self.feature_dim}), got {tuple(features.shape)}")
        if self.hidden:
            batch = features.shape[0]
            units = torch.einsum("bd,hdk->hbk", features, self.hidden_weight.to(features.dtype))
            units = units + self.hidden_bias.to(features.dtype).unsqueeze(1)  # (H, B, h)
            units = self.norm(units.permute(1, 0, 2).reshape(batch, -1))  # (B, H*h)
            features_per_head = torch.relu(units).reshape(batch, self.n_heads, self.hidden).permute(1, 0, 2)
            return torch.einsum("hbk,hkc->hbc", features_per_head, self.weight.to(features.dtype)) + self.bias.to(
                features.dtype
            ).unsqueeze(1)
        return torch.einsum("bd,hdk->hbk", features, self.weight.to(features.dtype)) + self.bias.to(
            features.dtype
        ).unsqueeze(1)

    @torch.no_grad()
    def head(self, index: int) -> nn.Module:
        """A copy of head ``index`` as the module :func:`clustering_head` builds (with its
        batch-norm statistics), in the mode this module is in."""
        if not 0 <= index < self.n_heads:
            raise ValueError(f"head must be in [0, {self.n_heads}), got {index}")
        head = clustering_head(self.feature_dim, self.n_clusters, self.hidden)
        last = head[-1] if self.hidden else head
        last.weight.copy_(self.weight[index].t())
        last.bias.copy_(self.bias[index])
        if self.hidden:
            units = slice(index * self.hidden, (index + 1) * self.hidden)
            head[0].weight.copy_(self.hidden_weight[index].t())
            head[0].bias.copy_(self.hidden_bias[index])
            norm = head[1]
            norm.weight.copy_(self.norm.weight[units])
            norm.bias.copy_(self.norm.bias[units])
            norm.running_mean.copy_(self.norm.running_mean[units])
            norm.running_var.copy_(self.norm.running_var[units])
            norm.num_batches_tracked.copy_(self.norm.num_batches_tracked)
        return head.to(self.weight.device).train(self.training)
