"""The losses of SCAN (Van Gansbeke et al., ECCV 2020): the SCAN loss of a clustering head
(neighbours agree, clusters are all used) and the self-labelling loss (confident
predictions as pseudo-labels, weighted against class imbalance)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from irl_inr.models.checks import check_probability_matrix, non_negative_float, positive_int, probability

# Floor for probabilities inside logarithms (a product of two softmaxes can underflow).
EPS = 1e-8


def scan_loss(
    anchor_probs: torch.Tensor, neighbour_probs: torch.Tensor, entropy_weight: float = 5.0
) -> dict[str, torch.Tensor]:
    """The SCAN loss of one head.

    anchor_probs, neighbour_probs: (B, K) cluster probabilities of each anchor and of
    one of its neighbours.  Returns scalars:

    * ``consistency`` = ``-mean_i log <p(anchor_i), p(neighbour_i)>`` (the inner product
      is clamped at 1e-8 so a confident disagreement stays finite);
    * ``entropy`` = ``H(mean_i p(anchor_i))``, the entropy of the batch's mean prediction
      (``log K`` at most, reached when the clusters are used evenly);
    * ``total`` = ``consistency - entropy_weight * entropy``.

    Computed in float32 whatever the input dtype."""
    check_probability_matrix(anchor_probs, "anchor_probs")
    check_probability_matrix(neighbour_probs, "neighbour_probs")
    losses = head_scan_losses(anchor_probs.unsqueeze(0), neighbour_probs.unsqueeze(0), entropy_weight)
    return {name: value[0] for name, value in losses.items()}


def head_scan_losses(
    anchor_probs: torch.Tensor, neighbour_probs: torch.Tensor, entropy_weight: float = 5.0
) -> dict[str, torch.Tensor]:
    """:func:`scan_loss` of H heads at once: anchor_probs, neighbour_probs (H, B, K);
    returns ``total``, ``consistency`` and ``entropy``, each (H,), one per head (one
    batched computation: ten heads train in half the time of a loop over them)."""
    for value, name in ((anchor_probs, "anchor_probs"), (neighbour_probs, "neighbour_probs")):
        if not isinstance(value, torch.Tensor) or value.dim() != 3 or not value.is_floating_point():
            raise ValueError(f"{name} must be float probabilities (H, B, K), got "
                             f"{getattr(value, 'shape', type(value).__name__)}")
    if anchor_probs.shape != neighbour_probs.shape:
        raise ValueError(
            f"anchor_probs and neighbour_probs must have the same shape, got "
            f"{tuple(anchor_probs.shape)} and {tuple(neighbour_probs.shape)}"
        )
    entropy_weight = non_negative_float(entropy_weight, "entropy_weight")
    anchor, neighbour = anchor_probs.float(), neighbour_probs.float()
    similarity = (anchor * neighbour).sum(dim=-1)  # (H, B)
    consistency = -torch.log(similarity.clamp_min(EPS)).mean(dim=-1)  # (H,)
    mean = anchor.mean(dim=1)  # (H, K)
    entropy = -(mean * torch.log(mean.clamp_min(EPS))).sum(dim=-1)  # (H,)
    return {"total": consistency - entropy_weight * entropy, "consistency": consistency, "entropy": entropy}


def balanced_class_weights(labels: torch.Tensor, n_clusters: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Class weights against imbalance: ``w_c = M / (C * n_c)`` for the ``C`` classes present.

    labels: (B,) integer pseudo-labels; mask: (B,) bool, which of them count (all by
    default); ``n_c`` is the number of counted samples of class ``c`` and ``M`` their
    total.  Absent classes weigh 0.  The weights of the counted samples sum to ``M``
    (mean 1), so a weighted mean of per-sample losses gives every present class the same
    total weight.  Returns (n_clusters,) float32; all zeros when nothing counts."""
    n_clusters = positive_int(n_clusters, "n_clusters")
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        raise ValueError(f"labels must be a 1-D tensor, got {getattr(labels, 'shape', type(labels).__name__)}")
    if mask is None:
        mask = torch.ones_like(labels, dtype=torch.bool)
    if mask.shape != labels.shape:
        raise ValueError(f"mask must have the shape of labels {tuple(labels.shape)}, got {tuple(mask.shape)}")
    one_hot = F.one_hot(labels.long(), n_clusters).float() * mask.float().unsqueeze(1)  # (B, K)
    counts = one_hot.sum(dim=0)  # (K,)
    total = counts.sum()
    present = (counts > 0).float().sum()
    weights = total / (present.clamp_min(1.0) * counts.clamp_min(1.0))
    return torch.where(counts > 0, weights, torch.zeros_like(weights))


def selflabel_loss(
    weak_probs: torch.Tensor,
    strong_logits: torch.Tensor,
    threshold: float = 0.99,
    n_clusters: int | None = None,
    class_balance: bool = True,
) -> dict[str, torch.Tensor]:
    """SCAN's self-labelling loss.

    weak_probs: (B, K) probabilities of a weakly augmented view (treated as constants);
    strong_logits: (B, K) logits of a strongly augmented view of the same images.
    Samples whose weak max probability is ``> threshold`` are *confident*; their argmax
    is a pseudo-label, and the loss is the cross-entropy of the strong logits against
    it, averaged with :func:`balanced_class_weights` (``class_balance=True``) or plainly.
    Returns ``total`` (0, not NaN, when no sample is confident; its gradient is then 0)
    and ``confident_share`` (confident samples / B).  ``n_clusters``, if given, must equal K.
    """
    check_probability_matrix(weak_probs, "weak_probs")
    check_probability_matrix(strong_logits, "strong_logits")
    if weak_probs.shape != strong_logits.shape:
        raise ValueError(
            f"weak_probs and strong_logits must have the same shape, got "
            f"{tuple(weak_probs.shape)} and {tuple(strong_logits.shape)}"
        )
    clusters = strong_logits.shape[1]
    if n_clusters is not None and positive_int(n_clusters, "n_clusters") != clusters:
        raise ValueError(f"n_clusters = {n_clusters} but the predictions have {clusters} columns")
    threshold = probability(threshold, "threshold")
    max_prob, pseudo_labels = weak_probs.detach().float().max(dim=1)
    confident = max_prob > threshold  # (B,)
    log_probs = F.log_softmax(strong_logits.float(), dim=1)
    nll = -log_probs.gather(1, pseudo_labels.unsqueeze(1)).squeeze(1)  # (B,)
    if class_balance:
        sample_weights = balanced_class_weights(pseudo_labels, clusters, confident)[pseudo_labels]
    else:
        sample_weights = torch.ones_like(nll)
    sample_weights = sample_weights * confident.float()
    count = confident.float().sum()
    total = (sample_weights * nll).sum() / count.clamp_min(1.0)
    return {"total": total, "confident_share": count / confident.numel()}
