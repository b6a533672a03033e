"""SCAN's self-labelling step (Van Gansbeke et al., ECCV 2020): confident predictions
(max probability above a threshold) on a weakly augmented view become pseudo-labels for a
cross-entropy on a strongly augmented view, weighted against class imbalance."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from irl_inr.models.augmentation import photometric, posed_views
from irl_inr.models.checks import non_negative_float, probability
from irl_inr.models.clustering_heads import head_clusters
from irl_inr.models.features import FeatureOwner
from irl_inr.models.scan import SCANModel
from irl_inr.models.scan_losses import selflabel_loss
from irl_inr.parameters import is_int


class SelfLabelModel(FeatureOwner):
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

    Safeguards of a fine-tuned feature extractor:

    * features_learning_rate_scale: the feature extractor learns at this share of the
      head's learning rate (a learning-rate split; see
      :meth:`~irl_inr.models.features.FeatureOwner.optimiser_groups`);
    * ema_decay: a *teacher*, the exponential moving average of the features and head
      (``teacher <- decay * teacher + (1 - decay) * student`` after every step, batch-norm
      statistics copied), labels the weak views and is the model that :meth:`predict`
      uses; it is always in eval mode, so pseudo-labels do not follow one batch's
      statistics or one noisy step. 0: no teacher, the student labels its own weak views.

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
        features_learning_rate_scale: float = 1.0,
        ema_decay: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(head, nn.Module):
            raise TypeError(f"head must be an nn.Module (d -> K), got {type(head).__name__}")
        clusters = head_clusters(head)
        if clusters < 2:
            raise ValueError(f"head must have at least 2 outputs (clusters), got {clusters}")
        self.threshold = probability(threshold, "threshold")
        if not isinstance(rotate, bool):
            raise ValueError(f"rotate must be True or False, got {rotate!r}")
        if not isinstance(class_balance, bool):
            raise ValueError(f"class_balance must be True or False, got {class_balance!r}")
        self.rotate, self.class_balance = rotate, class_balance
        self.max_shift = non_negative_float(max_shift, "max_shift")
        self.contrast = non_negative_float(contrast, "contrast")
        if self.contrast >= 1:
            raise ValueError(f"contrast must be < 1 (factors stay positive), got {contrast!r}")
        self.noise_std = non_negative_float(noise_std, "noise_std")
        self.cutout_size = non_negative_float(cutout_size, "cutout_size")
        if self.cutout_size > 1:
            raise ValueError(f"cutout_size must be a share of the image side in [0, 1], got {cutout_size!r}")
        self.ema_decay = probability(ema_decay, "ema_decay")
        if self.ema_decay == 1:
            raise ValueError("ema_decay must be < 1 (1 would keep the teacher at its start forever)")
        self._set_features(features, train_features, normalise_features, features_learning_rate_scale)
        self.head = head
        self.n_clusters = clusters
        self.teacher: nn.ModuleDict | None = None
        if self.ema_decay > 0:
            self.teacher = nn.ModuleDict({"features": copy.deepcopy(features), "head": copy.deepcopy(head)})
            self.teacher.requires_grad_(False)
            self.teacher.eval()

    @classmethod
    def from_scan(cls, scan: SCANModel, head: int | None = None, **options: Any) -> "SelfLabelModel":
        """Start from a trained :class:`SCANModel`: a deep copy of its feature extractor and
        of head ``head`` (default: the head its :meth:`~SCANModel.best_head` chose).
        ``options`` go to the constructor; ``rotate`` and ``max_shift`` default to the SCAN
        model's."""
        if not isinstance(scan, SCANModel):
            raise TypeError(f"scan must be a SCANModel, got {type(scan).__name__}")
        if head is None:
            head = scan.chosen_head()
        if not is_int(head) or not 0 <= head < scan.n_heads:
            raise ValueError(f"head must be an integer in [0, {scan.n_heads}), got {head!r}")
        options.setdefault("rotate", scan.rotate)
        options.setdefault("max_shift", scan.max_shift)
        options.setdefault("normalise_features", scan.normalise_features)
        features = copy.deepcopy(scan.features)
        features.requires_grad_(True)
        return cls(features, scan.heads.head(head), **options)

    def train(self, mode: bool = True):  # noqa: D102 - the teacher stays in eval mode
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    @torch.no_grad()
    def after_optimiser_step(self) -> None:
        """Move the teacher towards the student (exponential moving average)."""
        if self.teacher is None:
            return
        for teacher, student in ((self.teacher["features"], self.features), (self.teacher["head"], self.head)):
            for mine, theirs in zip(teacher.parameters(), student.parameters(), strict=True):
                mine.lerp_(theirs, 1.0 - self.ema_decay)
            for mine, theirs in zip(teacher.buffers(), student.buffers(), strict=True):
                mine.copy_(theirs)

    def _teacher_logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, K) logits of the model that labels weak views and predicts: the teacher
        if there is one, else the student itself."""
        if self.teacher is None:
            return self.head(self._code(images))
        return self.teacher["head"](self._code(images, self.teacher["features"]))

    def prediction_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights that :meth:`predict` uses, under the student's names
        (``features.*``, ``head.*``): the teacher's with an EMA, else the student's."""
        if self.teacher is None:
            return self.state_dict()
        return {
            **{f"features.{k}": v for k, v in self.teacher["features"].state_dict().items()},
            **{f"head.{k}": v for k, v in self.teacher["head"].state_dict().items()},
        }

    def training_losses(self, batch: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Self-labelling losses of a batch of images (B, C, H, W)."""
        if not isinstance(batch, torch.Tensor) or batch.dim() != 4 or not batch.is_floating_point():
            raise ValueError(
                f"batch must be float images (B, C, H, W), got {getattr(batch, 'shape', type(batch).__name__)}"
            )
        weak = posed_views(batch, generator, self.rotate, self.max_shift)
        strong = posed_views(batch, generator, self.rotate, self.max_shift)
        strong = photometric(strong, generator, self.contrast, self.noise_std, self.cutout_size)
        with torch.no_grad():
            weak_probs = torch.softmax(self._teacher_logits(weak).float(), dim=-1)
        strong_logits = self.head(self._features(strong))
        return selflabel_loss(weak_probs, strong_logits, self.threshold, self.n_clusters, self.class_balance)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Cluster probabilities (B, K) in eval mode, without augmentation, by the teacher
        when there is one."""
        if self.teacher is None:
            return self.probabilities_in_batches(images, batch_size, self.head, dim=0)
        return self.probabilities_in_batches(
            images, batch_size, self.teacher["head"], dim=0, features=self.teacher["features"]
        )
