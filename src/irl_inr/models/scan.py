"""SCAN: Semantic Clustering by Adopting Nearest neighbours (Van Gansbeke et al., ECCV 2020).

Two steps on top of a feature extractor (here, typically the IRL-INR encoder's
semantic code):

1. **SCAN** (:class:`SCANModel`, :func:`scan_loss`): a clustering head maps features to
   ``K`` cluster probabilities; an image and one of its ``k`` nearest neighbours (mined
   beforehand in feature space) should get the *same* confident prediction, while the
   mean prediction over the batch stays spread over all clusters (an entropy term
   against the trivial one-cluster solution).  Several heads train at once
   (:class:`ClusteringHeads`); the one with the lowest SCAN loss is kept
   (:meth:`SCANModel.head_losses`, :meth:`SCANModel.best_head`).
2. **Self-labelling** (:class:`SelfLabelModel`, :func:`selflabel_loss`): confident
   predictions (max probability above a threshold) on a weakly augmented view become
   pseudo-labels for a cross-entropy on a strongly augmented view, weighted against
   class imbalance.

Augmentation uses :mod:`irl_inr.geometry`'s one convention: a uniform rotation in
``[0, 2pi)`` and a uniform shift in ``[-max_shift, max_shift]^2`` (normalised units, one
pixel is ``2 / size``), drawn from the generator that the training loop passes to
``training_losses`` (so a step replays exactly from the run's seed and step).

Training-loop protocol (see :mod:`irl_inr.training`): both models are ``nn.Module`` s
with ``training_losses(batch, generator) -> dict`` holding a scalar ``"total"``.

* :class:`SCANModel` stores the training images and the neighbour table, and its
  ``batch`` is a 1-D tensor of **anchor indices** into the stored images.  The loop
  wants floating-point data, so feed it :meth:`SCANModel.training_data`, i.e.
  ``torch.arange(N, dtype=torch.float32)`` (exact for N < 2**24); integer tensors are
  accepted too when calling ``training_losses`` directly.
* :class:`SelfLabelModel` needs no neighbours; its ``batch`` is images ``(B, C, H, W)``.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from irl_inr.geometry import pixel_grid, random_poses, transform_images

__all__ = [
    "ClusteringHeads",
    "clustering_head",
    "head_clusters",
    "SCANModel",
    "SelfLabelModel",
    "balanced_class_weights",
    "scan_loss",
    "selflabel_loss",
]

# Floor for probabilities inside logarithms (a product of two softmaxes can underflow).
_EPS = 1e-8
# Index tensors on float32 are exact up to this many samples.
_FLOAT32_EXACT = 2**24


# ----------------------------------------------------------------------------- checks


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _non_negative_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _probability(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _check_probability_matrix(value: Any, name: str) -> None:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dim() != 2 or value.shape[0] < 1 or value.shape[1] < 1:
        raise ValueError(f"{name} must have shape (B, K) with B, K >= 1, got {tuple(value.shape)}")
    if not value.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {value.dtype}")


def _check_images(images: Any, name: str, min_count: int = 1) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {images.dtype}")
    if images.dim() < 2 or images.shape[0] < min_count:
        raise ValueError(f"{name} must hold at least {min_count} samples along dim 0, got shape {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return images


def _feature_tensor(output: Any) -> torch.Tensor:
    """The feature tensor of a feature extractor's output.

    A plain tensor is used as is; an object with a ``semantic_code`` attribute (the
    IRL-INR :class:`~irl_inr.models.encoder.EncoderOutput`) gives that attribute."""
    if isinstance(output, torch.Tensor):
        return output
    code = getattr(output, "semantic_code", None)
    if isinstance(code, torch.Tensor):
        return code
    raise TypeError(
        "features must return a (B, d) tensor or an object with a semantic_code tensor, "
        f"got {type(output).__name__}"
    )


@torch.no_grad()
def _probe_features(features: nn.Module, images: torch.Tensor, feature_dim: int | None) -> int:
    """Run ``features`` (in eval mode) on a few images: check the output, return d."""
    was_training = features.training
    features.eval()
    try:
        output = _feature_tensor(features(images[: min(4, images.shape[0])]))
    finally:
        features.train(was_training)
    if output.dim() != 2 or output.shape[0] != min(4, images.shape[0]):
        raise ValueError(f"features must map (B, ...) images to (B, d) features, got shape {tuple(output.shape)}")
    if not torch.isfinite(output).all():
        raise ValueError("features: the feature extractor returned NaN or infinite features on the training images")
    if feature_dim is not None and output.shape[1] != feature_dim:
        raise ValueError(f"feature_dim = {feature_dim} but the feature extractor returns {output.shape[1]} features")
    return int(output.shape[1])


# ----------------------------------------------------------------------------- losses


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
    _check_probability_matrix(anchor_probs, "anchor_probs")
    _check_probability_matrix(neighbour_probs, "neighbour_probs")
    if anchor_probs.shape != neighbour_probs.shape:
        raise ValueError(
            f"anchor_probs and neighbour_probs must have the same shape, got "
            f"{tuple(anchor_probs.shape)} and {tuple(neighbour_probs.shape)}"
        )
    entropy_weight = _non_negative_float(entropy_weight, "entropy_weight")
    anchor, neighbour = anchor_probs.float(), neighbour_probs.float()
    similarity = (anchor * neighbour).sum(dim=1)  # (B,)
    consistency = -torch.log(similarity.clamp_min(_EPS)).mean()
    mean = anchor.mean(dim=0)  # (K,)
    entropy = -(mean * torch.log(mean.clamp_min(_EPS))).sum()
    return {"total": consistency - entropy_weight * entropy, "consistency": consistency, "entropy": entropy}


def balanced_class_weights(labels: torch.Tensor, n_clusters: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Class weights against imbalance: ``w_c = M / (C * n_c)`` for the ``C`` classes present.

    labels: (B,) integer pseudo-labels; mask: (B,) bool, which of them count (all by
    default); ``n_c`` is the number of counted samples of class ``c`` and ``M`` their
    total.  Absent classes weigh 0.  The weights of the counted samples sum to ``M``
    (mean 1), so a weighted mean of per-sample losses gives every present class the same
    total weight.  Returns (n_clusters,) float32; all zeros when nothing counts."""
    n_clusters = _positive_int(n_clusters, "n_clusters")
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
    _check_probability_matrix(weak_probs, "weak_probs")
    _check_probability_matrix(strong_logits, "strong_logits")
    if weak_probs.shape != strong_logits.shape:
        raise ValueError(
            f"weak_probs and strong_logits must have the same shape, got "
            f"{tuple(weak_probs.shape)} and {tuple(strong_logits.shape)}"
        )
    clusters = strong_logits.shape[1]
    if n_clusters is not None and _positive_int(n_clusters, "n_clusters") != clusters:
        raise ValueError(f"n_clusters = {n_clusters} but the predictions have {clusters} columns")
    threshold = _probability(threshold, "threshold")
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


# ------------------------------------------------------------------------ augmentation


def _posed_views(
    images: torch.Tensor, generator: torch.Generator, rotate: bool, max_shift: float
) -> torch.Tensor:
    """Each image under its own random pose (uniform rotation if ``rotate``, shift up to
    ``max_shift``); poses drawn on the generator's device.  No-op without either."""
    if not rotate and max_shift == 0:
        return images
    rotation, translation = random_poses(images.shape[0], max_shift, generator=generator, device=generator.device)
    if not rotate:
        rotation = torch.zeros_like(rotation)
    return transform_images(images, rotation.to(images.device), translation.to(images.device))


def _photometric(
    images: torch.Tensor,
    generator: torch.Generator,
    contrast: float,
    noise_std: float,
    cutout_size: float,
) -> torch.Tensor:
    """Light photometric augmentation of (B, C, H, W) images: a contrast factor uniform
    in ``[1 - contrast, 1 + contrast]``, Gaussian noise of std ``noise_std`` and one
    zeroed square of side ``cutout_size`` x the image side at a uniform position."""
    batch, _, height, width = images.shape
    device = generator.device
    factor = 1 + (torch.rand(batch, 1, 1, 1, generator=generator, device=device) * 2 - 1) * contrast
    noise = torch.randn(images.shape, generator=generator, device=device) * noise_std
    centre = torch.rand(batch, 1, 2, generator=generator, device=device) * 2 - 1  # normalised (x, y)
    out = images * factor.to(images.device) + noise.to(images.device, images.dtype)
    if cutout_size > 0:
        grid = pixel_grid(height, width, device=images.device)  # (P, 2)
        inside = ((grid.unsqueeze(0) - centre.to(images.device)).abs() < cutout_size).all(dim=-1)  # (B, P)
        out = out * (~inside).to(out.dtype).reshape(batch, 1, height, width)
    return out


# ------------------------------------------------------------------------------ heads


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
        self.feature_dim = _positive_int(feature_dim, "feature_dim")
        self.n_clusters = _positive_int(n_clusters, "n_clusters", minimum=2)
        self.n_heads = _positive_int(n_heads, "n_heads")
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
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


# ------------------------------------------------------------------------------- SCAN


class _FeatureOwner(nn.Module):
    """Shared handling of a feature extractor that is frozen or trained."""

    features: nn.Module
    train_features: bool
    normalise_features: bool

    def _set_features(self, features: nn.Module, train_features: bool, normalise_features: bool = False) -> None:
        if not isinstance(features, nn.Module):
            raise TypeError(f"features must be an nn.Module, got {type(features).__name__}")
        if not isinstance(train_features, bool):
            raise ValueError(f"train_features must be True or False, got {train_features!r}")
        if not isinstance(normalise_features, bool):
            raise ValueError(f"normalise_features must be True or False, got {normalise_features!r}")
        self.features = features
        self.train_features = train_features
        self.normalise_features = normalise_features
        if not train_features:
            # Frozen: no gradients (the optimiser skips it) and always in eval mode
            # (batch-norm statistics stay those of the pretext training).
            features.requires_grad_(False)
            features.eval()

    def train(self, mode: bool = True):  # noqa: D102 - nn.Module.train, keeping frozen features in eval
        super().train(mode)
        if not self.train_features:
            self.features.eval()
        return self

    def _code(self, images: torch.Tensor) -> torch.Tensor:
        """(B, d) features of ``images``, scaled to unit length if ``normalise_features``."""
        features = _feature_tensor(self.features(images))
        return F.normalize(features, dim=1) if self.normalise_features else features

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        if self.train_features:
            return self._code(images)
        with torch.no_grad():
            return self._code(images).detach()


class SCANModel(_FeatureOwner):
    """Clustering heads on a feature extractor, trained with the SCAN loss.

    features: images (B, ...) -> (B, d) features (or an object with ``semantic_code``,
    e.g. the IRL-INR encoder).  With ``train_features=False`` (default) it is frozen:
    ``requires_grad_(False)`` is applied to it (it is shared, not copied) and it stays in
    eval mode; with ``True`` it is fine-tuned with the heads (the paper's choice).
    images: (N, ...) float training images, kept on the model as a non-persistent buffer
    (moves with ``.to(device)``, not saved in the ``state_dict``).
    neighbours: (N, k) integer indices into ``images`` of each image's nearest neighbours
    (mined on the pretext features, e.g. with :func:`irl_inr.metrics.nearest_neighbours`,
    which excludes the image itself).  Also a non-persistent buffer.
    n_clusters, n_heads: K clusters; heads trained side by side (total loss = sum).
    entropy_weight: the weight of the entropy term (the paper's 5).
    rotate, max_shift: augmentation of every anchor and neighbour view: a uniform
    rotation in ``[0, 2pi)`` if ``rotate`` and a uniform shift in ``[-max_shift, max_shift]``
    (normalised units) per axis; images must then be (N, C, H, W).  With neither, the
    stored samples are used as they are (any shape the feature extractor accepts).
    feature_dim: d, inferred by running ``features`` on a few images when None.
    normalise_features: scale every feature vector to unit length before the heads (a
    contrastive code lives on a sphere; its norm carries no class).
    cached_views: with frozen features, encode ``cached_views`` randomly posed views of
    every image once (poses from ``view_seed``) and train the heads on those cached
    features: many epochs then cost no encoder pass. 0: fresh poses through the features
    at every step.
    head_hidden: hidden units of every head (0: linear heads); see :class:`ClusteringHeads`.

    ``training_losses(batch, generator)``: ``batch`` is a 1-D tensor of anchor indices
    (float from :meth:`training_data`, or integer).  For each anchor one neighbour is
    drawn uniformly among its k; both get fresh poses.  Returns ``total`` (sum over
    heads), ``consistency`` and ``entropy`` (means over heads) and ``head_<h>`` (each
    head's own total, to follow which head does best).
    """

    def __init__(
        self,
        features: nn.Module,
        images: torch.Tensor,
        neighbours: torch.Tensor,
        n_clusters: int,
        n_heads: int = 10,
        *,
        entropy_weight: float = 5.0,
        rotate: bool = True,
        max_shift: float = 0.0,
        train_features: bool = False,
        feature_dim: int | None = None,
        normalise_features: bool = False,
        cached_views: int = 0,
        view_seed: int = 0,
        head_hidden: int = 0,
    ) -> None:
        super().__init__()
        n_clusters = _positive_int(n_clusters, "n_clusters", minimum=2)
        n_heads = _positive_int(n_heads, "n_heads")
        images = _check_images(images, "images")
        count = images.shape[0]
        if count < n_clusters:
            raise ValueError(f"images: {count} images are fewer than n_clusters = {n_clusters}")
        if count >= _FLOAT32_EXACT:
            raise ValueError(f"images: {count} images are too many for float32 anchor indices (< 2**24)")
        neighbours = self._check_neighbours(neighbours, count)
        if not isinstance(rotate, bool):
            raise ValueError(f"rotate must be True or False, got {rotate!r}")
        self.max_shift = _non_negative_float(max_shift, "max_shift")
        self.rotate = rotate
        if (rotate or self.max_shift > 0) and images.dim() != 4:
            raise ValueError(
                f"images must have shape (N, C, H, W) for rotation/shift augmentation, got {tuple(images.shape)}"
            )
        self.entropy_weight = _non_negative_float(entropy_weight, "entropy_weight")
        if feature_dim is not None:
            feature_dim = _positive_int(feature_dim, "feature_dim")
        if isinstance(cached_views, bool) or not isinstance(cached_views, int) or cached_views < 0:
            raise ValueError(f"cached_views must be a non-negative integer, got {cached_views!r}")
        if cached_views and train_features:
            raise ValueError("cached_views needs frozen features (train_features=False)")
        self._set_features(features, train_features, normalise_features)
        feature_dim = _probe_features(features, images, feature_dim)
        self.n_clusters, self.n_heads = n_clusters, n_heads
        self.heads = ClusteringHeads(feature_dim, n_clusters, n_heads, head_hidden)
        self.register_buffer("images", images, persistent=False)
        self.register_buffer("neighbours", neighbours, persistent=False)
        self.cached_views = cached_views
        view_features = self._encode_views(images, cached_views, view_seed) if cached_views else None
        self.register_buffer("view_features", view_features, persistent=False)  # (N, V, d) or None
        # The head chosen by best_head(); -1 = not chosen yet (reset by every training step).
        self.register_buffer("selected_head", torch.tensor(-1, dtype=torch.long))

    @staticmethod
    def _check_neighbours(neighbours: Any, count: int) -> torch.Tensor:
        if not isinstance(neighbours, torch.Tensor):
            raise TypeError(f"neighbours must be a torch.Tensor, got {type(neighbours).__name__}")
        if neighbours.dim() != 2 or neighbours.shape[0] != count or neighbours.shape[1] < 1:
            raise ValueError(
                f"neighbours must have shape (N, k) = ({count}, k >= 1) for {count} images, "
                f"got {tuple(neighbours.shape)}"
            )
        if neighbours.is_floating_point() or neighbours.dtype == torch.bool or neighbours.is_complex():
            raise ValueError(f"neighbours must hold integer indices, got {neighbours.dtype}")
        if neighbours.shape[1] >= count:
            raise ValueError(
                f"neighbours has k = {neighbours.shape[1]} neighbours per image but there are only "
                f"{count} images (k must be < N)"
            )
        low, high = int(neighbours.min()), int(neighbours.max())
        if low < 0 or high >= count:
            raise ValueError(f"neighbours holds indices in [{low}, {high}], outside [0, {count - 1}]")
        return neighbours.long()

    @torch.no_grad()
    def _encode_views(self, images: torch.Tensor, views: int, seed: int, batch_size: int = 512) -> torch.Tensor:
        """Features (N, views, d) of ``views`` randomly posed copies of every image."""
        generator = torch.Generator().manual_seed(seed)
        was_training = self.features.training
        self.features.eval()
        try:
            encoded = []
            for _ in range(views):
                posed = _posed_views(images, generator, self.rotate, self.max_shift)
                encoded.append(torch.cat([self._code(posed[start : start + batch_size])
                                          for start in range(0, len(posed), batch_size)]))
        finally:
            self.features.train(was_training)
        return torch.stack(encoded, dim=1)

    # -- training -------------------------------------------------------------------------

    def training_data(self) -> torch.Tensor:
        """What to give the training loop as ``data``: the anchor indices 0..N-1 as float32."""
        return torch.arange(self.images.shape[0], dtype=torch.float32)

    def _anchor_indices(self, batch: torch.Tensor) -> torch.Tensor:
        if not isinstance(batch, torch.Tensor) or batch.dim() != 1 or batch.shape[0] < 1:
            raise ValueError(
                "batch must be a non-empty 1-D tensor of anchor indices into the stored images "
                f"(train on model.training_data()), got {getattr(batch, 'shape', type(batch).__name__)}"
            )
        indices = batch.round().long() if batch.is_floating_point() else batch.long()
        count = self.images.shape[0]
        bad = (indices < 0) | (indices >= count)
        if batch.is_floating_point():
            bad = bad | (indices.to(batch.dtype) != batch)
        if bool(bad.any()):
            raise ValueError(f"batch must hold integer anchor indices in [0, {count - 1}]")
        return indices.to(self.images.device)

    def training_losses(self, batch: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """SCAN losses of a batch of anchor indices (see the class docstring)."""
        anchors = self._anchor_indices(batch)
        size, k = anchors.shape[0], self.neighbours.shape[1]
        with torch.no_grad():
            self.selected_head.fill_(-1)
        column = torch.randint(k, (size,), generator=generator, device=generator.device).to(anchors.device)
        partners = self.neighbours[anchors, column]
        rows = torch.cat([anchors, partners])  # (2B,)
        if self.view_features is not None:
            view = torch.randint(self.cached_views, (2 * size,), generator=generator, device=generator.device)
            features = self.view_features[rows, view.to(rows.device)]  # (2B, d)
        else:
            features = self._features(_posed_views(self.images[rows], generator, self.rotate, self.max_shift))
        probs = torch.softmax(self.heads(features).float(), dim=-1)  # (H, 2B, K)
        per_head = [scan_loss(p[:size], p[size:], self.entropy_weight) for p in probs]
        losses = {
            "total": torch.stack([h["total"] for h in per_head]).sum(),
            "consistency": torch.stack([h["consistency"] for h in per_head]).mean(),
            "entropy": torch.stack([h["entropy"] for h in per_head]).mean(),
        }
        for index, head in enumerate(per_head):
            losses[f"head_{index}"] = head["total"].detach()
        return losses

    # -- evaluation -----------------------------------------------------------------------

    @torch.no_grad()
    def all_head_probabilities(self, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Cluster probabilities of every head, (n_heads, B, K), in eval mode (no augmentation)."""
        images = _check_images(images, "images")
        batch_size = _positive_int(batch_size, "batch_size")
        was_training = self.training
        self.eval()
        try:
            chunks = []
            device = self.heads.weight.device
            for start in range(0, images.shape[0], batch_size):
                features = self._code(images[start : start + batch_size].to(device))
                if not torch.isfinite(features).all():
                    raise ValueError(
                        f"features: NaN or infinite features for images {start}..{start + features.shape[0] - 1}"
                    )
                chunks.append(torch.softmax(self.heads(features).float(), dim=-1))
            return torch.cat(chunks, dim=1)
        finally:
            self.train(was_training)

    @torch.no_grad()
    def head_losses(self, batch_size: int = 1024) -> torch.Tensor:
        """Each head's SCAN loss on all stored images, without augmentation: (n_heads,).

        Consistency is averaged over *all* k neighbours of every image and the entropy
        is that of the mean prediction over the whole set, so the numbers are
        deterministic and comparable between heads (lower is better)."""
        probs = self.all_head_probabilities(self.images, batch_size)  # (H, N, K)
        count, k = self.neighbours.shape
        log_similarity = probs.new_zeros(self.n_heads)
        for start in range(0, count, batch_size):  # blocks of anchors bound the (H, b, k, K) product
            anchors = probs[:, start : start + batch_size].unsqueeze(2)  # (H, b, 1, K)
            partners = probs[:, self.neighbours[start : start + batch_size]]  # (H, b, k, K)
            similarity = (anchors * partners).sum(-1)  # (H, b, k)
            log_similarity += torch.log(similarity.clamp_min(_EPS)).sum(dim=(1, 2))
        consistency = -log_similarity / (count * k)
        mean = probs.mean(dim=1)  # (H, K)
        entropy = -(mean * torch.log(mean.clamp_min(_EPS))).sum(-1)
        return consistency - self.entropy_weight * entropy

    @torch.no_grad()
    def best_head(self, batch_size: int = 1024) -> int:
        """The head with the lowest :meth:`head_losses`; remembered for :meth:`predict`."""
        best = int(torch.argmin(self.head_losses(batch_size)))
        self.selected_head.fill_(best)
        return best

    @torch.no_grad()
    def predict(self, images: torch.Tensor, head: int | None = None, batch_size: int = 1024) -> torch.Tensor:
        """Cluster probabilities (B, K) of one head (default: :meth:`best_head`, computed
        if not chosen since the last training step)."""
        if head is None:
            head = int(self.selected_head)
            if head < 0:
                head = self.best_head(batch_size)
        if isinstance(head, bool) or not isinstance(head, int) or not 0 <= head < self.n_heads:
            raise ValueError(f"head must be an integer in [0, {self.n_heads}), got {head!r}")
        return self.all_head_probabilities(images, batch_size)[head]


# ------------------------------------------------------------------------ self-labelling


class SelfLabelModel(_FeatureOwner):
    """SCAN's self-labelling step: one clustering head on a feature extractor.

    features: images (B, C, H, W) -> (B, d) (or an object with ``semantic_code``);
    trained by default (``train_features=True``, as in the paper).  head: a
    head of :func:`clustering_head` (d -> K); usually built by :meth:`from_scan` from the
    best SCAN head.
    threshold: confidence for a pseudo-label (0.99 in the paper; 0.9 suits MNIST-U, whose
    rotated 6/9-like digits rarely reach 0.99).  rotate, max_shift: the pose
    augmentation of both views (as in :class:`SCANModel`).  Strong view only:
    ``contrast`` (factor in ``[1 - contrast, 1 + contrast]``), Gaussian ``noise_std`` and a
    cutout square of side ``cutout_size`` x the image side.  class_balance: weight the
    cross-entropy by inverse pseudo-label frequency (:func:`balanced_class_weights`).
    normalise_features: unit-length features before the head (as the SCAN model it starts from).

    ``training_losses(images, generator)``: ``batch`` is images (B, C, H, W).  The weak
    view's prediction is computed without gradient.  Returns ``total`` and
    ``confident_share``.
    """

    def __init__(
        self,
        features: nn.Module,
        head: nn.Linear,
        *,
        threshold: float = 0.99,
        rotate: bool = True,
        max_shift: float = 0.0,
        contrast: float = 0.2,
        noise_std: float = 0.05,
        cutout_size: float = 0.25,
        class_balance: bool = True,
        train_features: bool = True,
        normalise_features: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(head, nn.Module):
            raise TypeError(f"head must be an nn.Module (d -> K), got {type(head).__name__}")
        clusters = head_clusters(head)
        if clusters < 2:
            raise ValueError(f"head must have at least 2 outputs (clusters), got {clusters}")
        self.threshold = _probability(threshold, "threshold")
        if not isinstance(rotate, bool):
            raise ValueError(f"rotate must be True or False, got {rotate!r}")
        if not isinstance(class_balance, bool):
            raise ValueError(f"class_balance must be True or False, got {class_balance!r}")
        self.rotate, self.class_balance = rotate, class_balance
        self.max_shift = _non_negative_float(max_shift, "max_shift")
        self.contrast = _non_negative_float(contrast, "contrast")
        if self.contrast >= 1:
            raise ValueError(f"contrast must be < 1 (factors stay positive), got {contrast!r}")
        self.noise_std = _non_negative_float(noise_std, "noise_std")
        self.cutout_size = _non_negative_float(cutout_size, "cutout_size")
        if self.cutout_size > 1:
            raise ValueError(f"cutout_size must be a share of the image side in [0, 1], got {cutout_size!r}")
        self._set_features(features, train_features, normalise_features)
        self.head = head
        self.n_clusters = clusters

    @classmethod
    def from_scan(cls, scan: SCANModel, head: int | None = None, **options: Any) -> "SelfLabelModel":
        """Start from a trained :class:`SCANModel`: a deep copy of its feature extractor and
        of head ``head`` (default: its best head).  ``options`` go to the constructor;
        ``rotate`` and ``max_shift`` default to the SCAN model's."""
        if not isinstance(scan, SCANModel):
            raise TypeError(f"scan must be a SCANModel, got {type(scan).__name__}")
        if head is None:
            head = int(scan.selected_head)
            if head < 0:
                head = scan.best_head()
        if isinstance(head, bool) or not isinstance(head, int) or not 0 <= head < scan.n_heads:
            raise ValueError(f"head must be an integer in [0, {scan.n_heads}), got {head!r}")
        options.setdefault("rotate", scan.rotate)
        options.setdefault("max_shift", scan.max_shift)
        options.setdefault("normalise_features", scan.normalise_features)
        features = copy.deepcopy(scan.features)
        features.requires_grad_(True)
        return cls(features, scan.heads.head(head), **options)

    def training_losses(self, batch: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Self-labelling losses of a batch of images (B, C, H, W)."""
        if not isinstance(batch, torch.Tensor) or batch.dim() != 4 or not batch.is_floating_point():
            raise ValueError(
                f"batch must be float images (B, C, H, W), got {getattr(batch, 'shape', type(batch).__name__)}"
            )
        weak = _posed_views(batch, generator, self.rotate, self.max_shift)
        strong = _posed_views(batch, generator, self.rotate, self.max_shift)
        strong = _photometric(strong, generator, self.contrast, self.noise_std, self.cutout_size)
        with torch.no_grad():
            weak_probs = torch.softmax(self.head(self._code(weak)).float(), dim=-1)
        strong_logits = self.head(self._features(strong))
        return selflabel_loss(weak_probs, strong_logits, self.threshold, self.n_clusters, self.class_balance)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Cluster probabilities (B, K) in eval mode, without augmentation."""
        images = _check_images(images, "images")
        batch_size = _positive_int(batch_size, "batch_size")
        was_training = self.training
        self.eval()
        try:
            device = next(self.head.parameters()).device
            chunks = []
            for start in range(0, images.shape[0], batch_size):
                features = self._code(images[start : start + batch_size].to(device))
                if not torch.isfinite(features).all():
                    raise ValueError(
                        f"features: NaN or infinite features for images {start}..{start + features.shape[0] - 1}"
                    )
                chunks.append(torch.softmax(self.head(features).float(), dim=-1))
            return torch.cat(chunks)
        finally:
            self.train(was_training)
