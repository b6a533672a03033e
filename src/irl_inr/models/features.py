"""A feature extractor under a clustering model (SCAN, self-labelling): its features from
its output, checked on a few images, and kept frozen (no gradients, eval mode) or trained."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from irl_inr.models.checks import check_images, finite_number, positive_int


def feature_tensor(output: Any) -> torch.Tensor:
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
def probe_features(features: nn.Module, images: torch.Tensor, feature_dim: int | None) -> int:
    """Run ``features`` (in eval mode) on a few images: check the output, return d."""
    was_training = features.training
    features.eval()
    try:
        output = feature_tensor(features(images[: min(4, images.shape[0])]))
    finally:
        features.train(was_training)
    if output.dim() != 2 or output.shape[0] != min(4, images.shape[0]):
        raise ValueError(f"features must map (B, ...) images to (B, d) features, got shape {tuple(output.shape)}")
    if not torch.isfinite(output).all():
        raise ValueError("features: the feature extractor returned NaN or infinite features on the training images")
    if feature_dim is not None and output.shape[1] != feature_dim:
        raise ValueError(f"feature_dim = {feature_dim} but the feature extractor returns {output.shape[1]} features")
    return int(output.shape[1])


class FeatureOwner(nn.Module):
    """Shared handling of a feature extractor that is frozen or trained."""

    features: nn.Module
    train_features: bool
    normalise_features: bool

    def _set_features(
        self, features: nn.Module, train_features: bool, normalise_features: bool = False,
        features_learning_rate_scale: float = 1.0,
    ) -> None:
        if not isinstance(features, nn.Module):
            raise TypeError(f"features must be an nn.Module, got {type(features).__name__}")
        if not isinstance(train_features, bool):
            raise ValueError(f"train_features must be True or False, got {train_features!r}")
        if not isinstance(normalise_features, bool):
            raise ValueError(f"normalise_features must be True or False, got {normalise_features!r}")
        scale = finite_number(features_learning_rate_scale, "features_learning_rate_scale", positive=True)
        self.features = features
        self.train_features = train_features
        self.normalise_features = normalise_features
        self.features_learning_rate_scale = scale
        if not train_features:
            # Frozen: no gradients (the optimiser skips it) and always in eval mode
            # (batch-norm statistics stay those of the pretext training).
            features.requires_grad_(False)
            features.eval()

    def optimiser_groups(self) -> list[dict[str, Any]]:
        """Adam's groups (see :mod:`irl_inr.training.loop`): the model's own layers (its
        heads) at the full learning rate, the feature extractor, when trained, at
        ``features_learning_rate_scale`` of it: a learning-rate split, since the features
        are pre-trained and a step sized for a new head wrecks them."""
        feature_parameters = list(self.features.parameters())
        feature_ids = {id(p) for p in feature_parameters}
        return [
            {"params": [p for p in self.parameters() if id(p) not in feature_ids], "learning_rate_scale": 1.0},
            {"params": feature_parameters, "learning_rate_scale": self.features_learning_rate_scale},
        ]

    def train(self, mode: bool = True):  # noqa: D102 - nn.Module.train, keeping frozen features in eval
        super().train(mode)
        if not self.train_features:
            self.features.eval()
        return self

    def _code(self, images: torch.Tensor, features: nn.Module | None = None, evaluation: bool = False) -> torch.Tensor:
        """(B, d) features of ``images`` by ``features`` (default: the model's own feature
        extractor), scaled to unit length if ``normalise_features``.  ``evaluation``: read
        them as a trained model does, by the extractor's ``encode`` where it has one (the
        IRL-INR encoder's code averaged over its turns), else by its forward."""
        extractor = self.features if features is None else features
        read = getattr(extractor, "encode", extractor) if evaluation else extractor
        code = feature_tensor(read(images))
        return F.normalize(code, dim=1) if self.normalise_features else code

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        if self.train_features:
            return self._code(images)
        with torch.no_grad():
            return self._code(images).detach()

    @torch.no_grad()
    def probabilities_in_batches(
        self, images: torch.Tensor, batch_size: int, head: nn.Module, dim: int, features: nn.Module | None = None
    ) -> torch.Tensor:
        """The softmax of ``head`` over the features of ``images`` (by ``features``, default
        the model's own, read as a trained model reads them), ``batch_size`` images at a
        time, in eval mode (no augmentation); the chunks joined along ``dim``."""
        images = check_images(images, "images")
        batch_size = positive_int(batch_size, "batch_size")
        was_training = self.training
        self.eval()
        try:
            device = next(head.parameters()).device
            chunks = []
            for start in range(0, images.shape[0], batch_size):
                code = self._code(images[start : start + batch_size].to(device), features, evaluation=True)
                if not torch.isfinite(code).all():
                    raise ValueError(
                        f"features: NaN or infinite features for images {start}..{start + code.shape[0] - 1}"
                    )
                chunks.append(torch.softmax(head(code).float(), dim=-1))
            return torch.cat(chunks, dim=dim)
        finally:
            self.train(was_training)
