"""SCAN: Semantic Clustering by Adopting Nearest neighbours (Van Gansbeke et al., ECCV 2020).

Two steps on top of a feature extractor (here, typically the IRL-INR encoder's
semantic code):

1. **SCAN** (:class:`SCANModel`, :func:`~irl_inr.models.scan_losses.scan_loss`): a
   clustering head maps features to ``K`` cluster probabilities; an image and one of its ``k`` nearest neighbours (mined
   beforehand in feature space) should get the *same* confident prediction, while the
   mean prediction over the batch stays spread over all clusters (an entropy term
   against the trivial one-cluster solution).  Several heads train at once
   (:class:`~irl_inr.models.clustering_heads.ClusteringHeads`); one is kept
   (:meth:`SCANModel.best_head`): the one whose clusters agree best with the other heads'
   or the one with the lowest SCAN loss (:mod:`~irl_inr.models.head_selection`).
2. **Self-labelling** (:class:`~irl_inr.models.selflabel.SelfLabelModel`,
   :func:`~irl_inr.models.scan_losses.selflabel_loss`): confident
   predictions (max probability above a threshold) on a weakly augmented view become
   pseudo-labels for a cross-entropy on a strongly augmented view, weighted against
   class imbalance.

Augmentation uses :mod:`irl_inr.geometry`'s one convention: a uniform rotation in
``[0, 2pi)`` and a uniform shift in ``[-max_shift, max_shift]^2`` (normalised units, one
pixel is ``2 / size``), drawn from the generator that the training loop passes to
``training_losses`` (so a step replays exactly from the run's seed and step).

Training-loop protocol (see :mod:`irl_inr.training`): both models are ``nn.Module`` s
with ``training_losses(batch, generator) -> dict`` holding a scalar ``"total"``.

* :class:`SCANModel` trains on a :class:`~irl_inr.models.neighbour_pairs.NeighbourPairs`
  data set (the images and the neighbour table; the model keeps neither): its ``batch``
  is an :class:`~irl_inr.models.neighbour_pairs.AnchorBatch` of **anchor indices**.
* :class:`SelfLabelModel` needs no neighbours; its ``batch`` is images ``(B, C, H, W)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from irl_inr.metrics.clustering import pairwise_rand_index
from irl_inr.models.augmentation import AppearanceAugmentation, distort, draw_appearance, posed_views
from irl_inr.models.checks import non_negative_float, positive_int
from irl_inr.models.clustering_heads import ClusteringHeads
from irl_inr.models.features import FeatureOwner, probe_features
from irl_inr.models.head_selection import kept_head
from irl_inr.models.neighbour_pairs import AnchorBatch, NeighbourPairs
from irl_inr.models.scan_losses import EPS, head_scan_losses
from irl_inr.parameters import is_int


class SCANModel(FeatureOwner):
    """Clustering heads on a feature extractor, trained with the SCAN loss.

    features: images (B, ...) -> (B, d) features (or an object with ``semantic_code``,
    e.g. the IRL-INR encoder).  With ``train_features=False`` (default) it is frozen:
    ``requires_grad_(False)`` is applied to it (it is shared, not copied) and it stays in
    eval mode; with ``True`` it is fine-tuned with the heads (the paper's choice).
    pairs: the training data (:class:`NeighbourPairs`: the images and each image's mined
    neighbours); read here to check the images, infer ``feature_dim`` and cache views,
    not kept.  Train on the same data set (``fit(model, pairs, ...)``).
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
    appearance: an augmentation applied to every posed view after its pose (None: the pose
    only), e.g. the IRL-INR encoder's own (``IRLINRConfig.appearance_augmentation``): the
    heads then learn on the distortions the code was trained to ignore, as SCAN's paper
    trains its heads under its pretext task's augmentations.
    features_learning_rate_scale: trained features learn at this share of the heads'
    learning rate (see :meth:`~irl_inr.models.features.FeatureOwner.optimiser_groups`).

    ``training_losses(batch, generator)``: ``batch`` is an :class:`AnchorBatch` (``pairs``
    read at some anchor indices).  For each anchor one neighbour is
    drawn uniformly among its k; both get fresh poses.  Returns ``total`` (sum over
    heads), ``consistency`` and ``entropy`` (means over heads) and ``head_<h>`` (each
    head's own total, to follow which head does best).
    """

    def __init__(
        self,
        features: nn.Module,
        pairs: NeighbourPairs,
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
        features_learning_rate_scale: float = 1.0,
        appearance: AppearanceAugmentation | None = None,
    ) -> None:
        super().__init__()
        n_clusters = positive_int(n_clusters, "n_clusters", minimum=2)
        n_heads = positive_int(n_heads, "n_heads")
        if not isinstance(pairs, NeighbourPairs):
            raise TypeError(f"pairs must be a NeighbourPairs, got {type(pairs).__name__}")
        images = pairs.images
        count = len(pairs)
        if count < n_clusters:
            raise ValueError(f"images: {count} images are fewer than n_clusters = {n_clusters}")
        if not isinstance(rotate, bool):
            raise ValueError(f"rotate must be True or False, got {rotate!r}")
        self.max_shift = non_negative_float(max_shift, "max_shift")
        self.rotate = rotate
        if (rotate or self.max_shift > 0) and images.dim() != 4:
            raise ValueError(
                f"images must have shape (N, C, H, W) for rotation/shift augmentation, got {tuple(images.shape)}"
            )
        self.entropy_weight = non_negative_float(entropy_weight, "entropy_weight")
        if appearance is not None and not isinstance(appearance, AppearanceAugmentation):
            raise TypeError(f"appearance must be an AppearanceAugmentation or None, got {type(appearance).__name__}")
        if appearance is not None and images.dim() != 4:
            raise ValueError(f"images must have shape (N, C, H, W) for the appearance augmentation, got "
                             f"{tuple(images.shape)}")
        self.appearance = appearance if appearance is not None and appearance.enabled else None
        if feature_dim is not None:
            feature_dim = positive_int(feature_dim, "feature_dim")
        if not is_int(cached_views) or cached_views < 0:
            raise ValueError(f"cached_views must be a non-negative integer, got {cached_views!r}")
        if cached_views and train_features:
            raise ValueError("cached_views needs frozen features (train_features=False)")
        self._set_features(features, train_features, normalise_features, features_learning_rate_scale)
        feature_dim = probe_features(features, images, feature_dim)
        self.n_clusters, self.n_heads = n_clusters, n_heads
        self.heads = ClusteringHeads(feature_dim, n_clusters, n_heads, head_hidden)
        self.image_count = count  # the size of the data set it is trained on
        self.cached_views = cached_views
        view_features = self._encode_views(images, cached_views, view_seed) if cached_views else None
        self.register_buffer("view_features", view_features, persistent=False)  # (N, V, d) or None
        # The head chosen by best_head(); -1 = not chosen yet (reset by every training step).
        self.register_buffer("selected_head", torch.tensor(-1, dtype=torch.long))

    def _views(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Every image (B, C, H, W) under its own random pose, then the appearance
        augmentation if there is one."""
        posed = posed_views(images, generator, self.rotate, self.max_shift)
        if self.appearance is None:
            return posed
        draw = draw_appearance(len(posed), self.appearance, generator, tuple(posed.shape[-2:]))
        return distort(posed, self.appearance, draw)

    @torch.no_grad()
    def _encode_views(self, images: torch.Tensor, views: int, seed: int, batch_size: int = 512) -> torch.Tensor:
        """Features (N, views, d) of ``views`` random views (:meth:`_views`) of every image."""
        generator = torch.Generator().manual_seed(seed)
        was_training = self.features.training
        self.features.eval()
        try:
            encoded = []
            for _ in range(views):
                posed = self._views(images, generator)
                encoded.append(torch.cat([self._code(posed[start : start + batch_size])
                                          for start in range(0, len(posed), batch_size)]))
        finally:
            self.features.train(was_training)
        return torch.stack(encoded, dim=1)

    # -- training -------------------------------------------------------------------------

    def _anchor_indices(self, batch: Any) -> torch.Tensor:
        if not isinstance(batch, AnchorBatch) or len(batch) < 1:
            raise ValueError(
                "batch must be a non-empty AnchorBatch (train on the NeighbourPairs the model was built on), "
                f"got {type(batch).__name__}"
            )
        if len(batch.pairs) != self.image_count:
            raise ValueError(
                f"batch indexes {len(batch.pairs)} images but the model was built on {self.image_count}: "
                "train on the NeighbourPairs the model was built on"
            )
        anchors = batch.anchors
        if anchors.dim() != 1 or anchors.is_floating_point() or anchors.dtype == torch.bool or anchors.is_complex():
            raise ValueError(f"batch must hold a 1-D tensor of integer anchor indices, got {anchors.dtype} "
                             f"{tuple(anchors.shape)}")
        if bool(((anchors < 0) | (anchors >= self.image_count)).any()):
            raise ValueError(f"batch must hold integer anchor indices in [0, {self.image_count - 1}]")
        return anchors.long()

    def training_losses(self, batch: AnchorBatch, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """SCAN losses of a batch of anchors (see the class docstring)."""
        anchors = self._anchor_indices(batch)
        size, k = anchors.shape[0], batch.pairs.k
        with torch.no_grad():
            self.selected_head.fill_(-1)
        column = torch.randint(k, (size,), generator=generator, device=generator.device).to(anchors.device)
        partners = batch.pairs.partners(anchors, column)
        rows = torch.cat([anchors, partners])  # (2B,)
        if self.view_features is not None:
            view = torch.randint(self.cached_views, (2 * size,), generator=generator, device=generator.device)
            features = self.view_features[rows, view.to(rows.device)]  # (2B, d)
        else:
            features = self._features(self._views(batch.pairs.pixels(rows), generator))
        probs = torch.softmax(self.heads(features).float(), dim=-1)  # (H, 2B, K)
        per_head = head_scan_losses(probs[:, :size], probs[:, size:], self.entropy_weight)  # each (H,)
        losses = {
            "total": per_head["total"].sum(),
            "consistency": per_head["consistency"].mean(),
            "entropy": per_head["entropy"].mean(),
        }
        for index, head in enumerate(per_head["total"].detach()):
            losses[f"head_{index}"] = head
        return losses

    # -- evaluation -----------------------------------------------------------------------

    @torch.no_grad()
    def all_head_probabilities(self, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Cluster probabilities of every head, (n_heads, B, K), in eval mode (no augmentation)."""
        return self.probabilities_in_batches(images, batch_size, self.heads, dim=1)

    @torch.no_grad()
    def head_losses(self, pairs: NeighbourPairs, batch_size: int = 1024) -> torch.Tensor:
        """Each head's SCAN loss on all images of ``pairs``, without augmentation: (n_heads,).

        Consistency is averaged over *all* k neighbours of every image and the entropy
        is that of the mean prediction over the whole set, so the numbers are
        deterministic and comparable between heads (lower is better)."""
        return self._head_losses(self.all_head_probabilities(pairs.images, batch_size), pairs.neighbours, batch_size)

    def _head_losses(self, probs: torch.Tensor, neighbours: torch.Tensor, batch_size: int) -> torch.Tensor:
        """:meth:`head_losses` of the probabilities (H, N, K) of every head; neighbours (N, k)."""
        neighbours = neighbours.to(probs.device)
        count, k = neighbours.shape
        log_similarity = probs.new_zeros(self.n_heads)
        for start in range(0, count, batch_size):  # blocks of anchors bound the (H, b, k, K) product
            anchors = probs[:, start : start + batch_size].unsqueeze(2)  # (H, b, 1, K)
            partners = probs[:, neighbours[start : start + batch_size]]  # (H, b, k, K)
            similarity = (anchors * partners).sum(-1)  # (H, b, k)
            log_similarity += torch.log(similarity.clamp_min(EPS)).sum(dim=(1, 2))
        consistency = -log_similarity / (count * k)
        mean = probs.mean(dim=1)  # (H, K)
        entropy = -(mean * torch.log(mean.clamp_min(EPS))).sum(-1)
        return consistency - self.entropy_weight * entropy

    @torch.no_grad()
    def judge_heads(self, pairs: NeighbourPairs, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """What the heads' selection reads, from one pass over the images of ``pairs``: every
        head's :meth:`head_losses` (n_heads,) and its clusters of every image (n_heads, N)."""
        probs = self.all_head_probabilities(pairs.images, batch_size)  # (H, N, K)
        return self._head_losses(probs, pairs.neighbours, batch_size), probs.argmax(dim=-1)

    @torch.no_grad()
    def best_head(self, pairs: NeighbourPairs, batch_size: int = 1024, rule: str = "agreement") -> int:
        """The head that ``rule`` keeps (:func:`~irl_inr.models.head_selection.kept_head`:
        ``agreement``, the head whose clusters agree best with the other heads', or ``loss``,
        the lowest :meth:`head_losses`) on ``pairs``; remembered for :meth:`predict`."""
        losses, assignments = self.judge_heads(pairs, batch_size)
        best = kept_head(rule, losses, pairwise_rand_index(assignments))
        self.selected_head.fill_(best)
        return best

    def chosen_head(self) -> int:
        """The head :meth:`best_head` chose; an error if none was chosen since the last
        training step (the model keeps no images to choose one itself)."""
        head = int(self.selected_head)
        if head < 0:
            raise ValueError("no head chosen since the last training step: call best_head(pairs) or name the head")
        return head

    @torch.no_grad()
    def predict(self, images: torch.Tensor, head: int | None = None, batch_size: int = 1024) -> torch.Tensor:
        """Cluster probabilities (B, K) of one head (default: the one :meth:`best_head` chose
        since the last training step)."""
        if head is None:
            head = self.chosen_head()
        if not is_int(head) or not 0 <= head < self.n_heads:
            raise ValueError(f"head must be an integer in [0, {self.n_heads}), got {head!r}")
        return self.all_head_probabilities(images, batch_size)[head]
