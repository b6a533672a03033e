"""DTI clustering: Deep Transformation-Invariant k-means (Monnier, Groueix and Aubry, NeurIPS 2020).

K prototypes live in pixel space.  A small CNN looks at an image and predicts, for
every prototype, the spatial transformation that best aligns that prototype with the
image; an image belongs to the prototype whose *transformed* version reconstructs it
best::

    loss = mean_i min_k || x_i - T_k(x_i)(prototype_k) ||^2      (sum over pixels)

and prototypes and CNN are learned together by gradient descent.  With no
transformation (``transformations=("identity",)``) there is no CNN and this is exactly
(gradient) k-means: the loss is the k-means objective divided by the number of
images and the assignment is the nearest prototype.

Transformations, composed as in :mod:`irl_inr.geometry` (rotate about the centre,
scale, then shift; normalised coordinates, ``align_corners=False``, zeros outside)::

    T(P)(p) = P( R(-theta) (p - t) / s )

with ``theta`` in radians (``"rotation"``), ``t = max_translation * tanh(.)``
(``"translation"``) and ``s = exp(max_log_scale * tanh(.))`` (``"scale"``).  With
``s = 1`` this is ``transform_images(P, theta, t)``.  The CNN's last layer starts at
zero, so training starts from the identity (plain k-means), as in the paper.

Full-turn rotations (MNIST-U) are far out of reach of a gradient on the angle started
at 0, so ``rotation_hypotheses = R > 1`` adds a discrete search: every prototype is
also tried at the base angles ``2 pi r / R`` (r = 0..R-1), each with its own predicted
residual transformation, and the minimum is over clusters *and* base angles.  ``R = 1``
is the paper's DTI.

Empty clusters: :meth:`DTIClustering.reassign_empty_clusters` re-seeds a prototype
with too few members from the worst-reconstructed member of the largest cluster (plus
a little noise) and resets its transformation outputs to the identity.  The training
loop has no epoch hooks, so ``reassign_every = n`` does the same inside
``training_losses`` every n steps, from the cluster shares counted over those steps and
the current batch.

Training-loop protocol (:mod:`irl_inr.training`): ``training_losses(images, generator)``
with images (B, C, H, W); returns ``total`` (the loss above) and ``mse`` (per pixel).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from irl_inr.geometry import rotation_matrices
from irl_inr.models.checks import check_image_batch, finite_number, positive_int
from irl_inr.models.dti_network import transformation_network
from irl_inr.models.prototype_seeding import kmeans_plus_plus
from irl_inr.parameters import is_int

__all__ = ["TRANSFORMATIONS", "DTIAssignment", "DTIClustering"]

TRANSFORMATIONS = ("identity", "rotation", "translation", "scale")
_PARAMETER_COUNT = {"rotation": 1, "translation": 2, "scale": 1}
INITIALISATIONS = ("kmeans++", "sample")
# Width of the transformation CNN's hidden layer; clustering.dti.hidden defaults to it
# and conf/base/parameters_clustering.yml states the same value.
DEFAULT_HIDDEN = 64


class DTIAssignment(NamedTuple):
    clusters: torch.Tensor  # (N,) int64, argmin over clusters
    errors: torch.Tensor  # (N,) squared error of the best transformed prototype (sum over pixels)
    reconstructions: torch.Tensor | None  # (N, C, H, W) that best transformed prototype (None if not asked)


# ----------------------------------------------------------------------------- checks


def _transformations(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence) or not value:
        raise ValueError(f"transformations must be a non-empty list of {TRANSFORMATIONS}, got {value!r}")
    unknown = [name for name in value if name not in TRANSFORMATIONS]
    if unknown:
        raise ValueError(f"transformations: unknown {unknown}; expected names from {TRANSFORMATIONS}")
    if "identity" in value and len(set(value)) > 1:
        raise ValueError(f"transformations: 'identity' cannot be combined with others, got {tuple(value)}")
    return tuple(name for name in TRANSFORMATIONS if name in value)  # canonical order, no repeats


# ------------------------------------------------------------------------------ model


class DTIClustering(nn.Module):
    """DTI clustering of (N, C, H, W) images into ``n_clusters`` prototypes.

    image_shape: (C, H, W) of the images (an int means (1, size, size)).
    transformations: ``("identity",)`` (k-means) or any of ``"rotation"``,
    ``"translation"``, ``"scale"``.  rotation_hypotheses: R base angles ``2 pi r / R``
    searched for every prototype (1 = the paper's DTI).  max_translation: bound on the
    shift (normalised units, ``tanh``-squashed); max_log_scale: bound on ``|log s|``.
    channels, hidden: the transformation CNN (:mod:`.dti_network`: 3x3 stride-2
    convolutions with ReLU, a 4x4 average pool, one hidden layer).  reassign_every: re-seed clusters whose share
    of the assignments counted over the last ``reassign_every`` training steps is
    ``<= min_cluster_share`` (0 = off; only empty clusters when the share is 0);
    reassign_noise: std of the noise added to a re-seeded prototype.

    Prototypes start at zero: call :meth:`initialise_prototypes` (or build with
    :meth:`from_data`)."""

    def __init__(
        self,
        n_clusters: int,
        image_shape: int | Sequence[int],
        transformations: Sequence[str] = ("rotation", "translation", "scale"),
        *,
        rotation_hypotheses: int = 1,
        max_translation: float = 0.5,
        max_log_scale: float = math.log(1.5),
        channels: Sequence[int] = (16, 32, 64),
        hidden: int = DEFAULT_HIDDEN,
        reassign_every: int = 0,
        min_cluster_share: float = 0.0,
        reassign_noise: float = 0.01,
    ) -> None:
        super().__init__()
        self.n_clusters = positive_int(n_clusters, "n_clusters")
        if is_int(image_shape):
            image_shape = (1, image_shape, image_shape)
        if (
            not isinstance(image_shape, Sequence)
            or len(image_shape) != 3
            or not all(is_int(v) and v >= 1 for v in image_shape)
        ):
            raise ValueError(f"image_shape must be (C, H, W) of positive integers or an int, got {image_shape!r}")
        self.image_shape = tuple(image_shape)
        self.transformations = _transformations(transformations)
        self.rotation_hypotheses = positive_int(rotation_hypotheses, "rotation_hypotheses")
        self.max_translation = finite_number(max_translation, "max_translation", positive=True)
        self.max_log_scale = finite_number(max_log_scale, "max_log_scale", positive=True)
        self.reassign_every = positive_int(reassign_every, "reassign_every", minimum=0)
        self.min_cluster_share = finite_number(min_cluster_share, "min_cluster_share")
        if self.min_cluster_share >= 1:
            raise ValueError(f"min_cluster_share must be < 1, got {min_cluster_share!r}")
        self.reassign_noise = finite_number(reassign_noise, "reassign_noise")
        self.identity = self.transformations == ("identity",)
        self.parameter_count = sum(_PARAMETER_COUNT.get(name, 0) for name in self.transformations)

        self.prototypes = nn.Parameter(torch.zeros(self.n_clusters, *self.image_shape))
        angles = torch.arange(self.rotation_hypotheses, dtype=torch.float32) * (2 * math.pi / self.rotation_hypotheses)
        self.register_buffer("base_angles", angles)
        # Assignment counts since the last in-training reassignment, and steps taken.
        self.register_buffer("assignment_counts", torch.zeros(self.n_clusters))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

        self.transformer: nn.Module | None = None
        self.output: nn.Linear | None = None
        if not self.identity:
            self.transformer = transformation_network(self.image_shape[0], channels, hidden)
            self.output = nn.Linear(hidden, self.n_clusters * self.rotation_hypotheses * self.parameter_count)
            nn.init.zeros_(self.output.weight)
            nn.init.zeros_(self.output.bias)

    # -- set-up ---------------------------------------------------------------------------

    @classmethod
    def from_data(
        cls,
        images: torch.Tensor,
        n_clusters: int,
        transformations: Sequence[str] = ("rotation", "translation", "scale"),
        *,
        init: str = "kmeans++",
        init_subsample: int = 2000,
        seed: int = 0,
        **options: Any,
    ) -> "DTIClustering":
        """A model for ``images`` (N, C, H, W) with prototypes initialised from them."""
        images = check_image_batch(images, "images")
        model = cls(n_clusters, tuple(images.shape[1:]), transformations, **options)
        model.initialise_prototypes(images, init, init_subsample, torch.Generator().manual_seed(seed))
        return model

    @torch.no_grad()
    def initialise_prototypes(
        self,
        images: torch.Tensor,
        method: str = "kmeans++",
        subsample: int = 2000,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Prototypes := K images: uniformly drawn distinct ones (``"sample"``) or k-means++
        seeds (``"kmeans++"``) among a uniform subsample of ``subsample`` images.  The
        generator must be a CPU one.  Returns the chosen image indices (K,)."""
        images = self._check_images(images, "images")
        if method not in INITIALISATIONS:
            raise ValueError(f"method must be one of {INITIALISATIONS}, got {method!r}")
        subsample = positive_int(subsample, "subsample")
        count = images.shape[0]
        if count < self.n_clusters:
            raise ValueError(f"images: {count} images are fewer than n_clusters = {self.n_clusters}")
        order = torch.randperm(count, generator=generator)
        if method == "sample":
            chosen = order[: self.n_clusters]
        else:
            pool = order[: max(subsample, self.n_clusters)]
            chosen = pool[kmeans_plus_plus(images[pool.to(images.device)], self.n_clusters, generator)]
        self.prototypes.copy_(images[chosen.to(images.device)].to(self.prototypes))
        return chosen

    def _check_images(self, images: Any, name: str) -> torch.Tensor:
        images = check_image_batch(images, name)
        if tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(
                f"{name} must have shape (N, {', '.join(map(str, self.image_shape))}), got {tuple(images.shape)}"
            )
        return images

    # -- transformations ------------------------------------------------------------------

    def _residual_parameters(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The predicted transformation of every (image, cluster, base angle) on top of the
        base angle: ``rotation`` (B, K, R) residual radians, ``translation`` (B, K, R, 2)
        and ``scale`` (B, K, R)."""
        batch, clusters, hypotheses = images.shape[0], self.n_clusters, self.rotation_hypotheses
        rotation = images.new_zeros(batch, clusters, hypotheses, dtype=torch.float32)
        translation = images.new_zeros(batch, clusters, hypotheses, 2, dtype=torch.float32)
        scale = images.new_ones(batch, clusters, hypotheses, dtype=torch.float32)
        if self.identity:
            return {"rotation": rotation, "translation": translation, "scale": scale}
        raw = self.output(self.transformer(images)).float()
        raw = raw.reshape(batch, clusters, hypotheses, self.parameter_count)
        column = 0
        if "rotation" in self.transformations:
            rotation = raw[..., column]
            column += 1
        if "translation" in self.transformations:
            translation = self.max_translation * torch.tanh(raw[..., column : column + 2])
            column += 2
        if "scale" in self.transformations:
            scale = torch.exp(self.max_log_scale * torch.tanh(raw[..., column]))
        return {"rotation": rotation, "translation": translation, "scale": scale}

    def transformation_parameters(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The transformation of every (image, cluster, base angle): ``rotation`` (B, K, R)
        radians (base angle included), ``translation`` (B, K, R, 2) normalised (x, y) and
        ``scale`` (B, K, R)."""
        parameters = self._residual_parameters(images)
        parameters["rotation"] = parameters["rotation"] + self.base_angles.to(images.device)
        return parameters

    def transformed_prototypes(self, images: torch.Tensor) -> torch.Tensor:
        """Every prototype transformed for every image and base angle: (B, K, R, C, H, W)."""
        batch = images.shape[0]
        clusters, hypotheses = self.n_clusters, self.rotation_hypotheses
        prototypes = self.prototypes.float()
        if self.identity and hypotheses == 1:
            return prototypes.unsqueeze(1).expand(batch, clusters, 1, *self.image_shape)
        parameters = self._residual_parameters(images)
        with torch.autocast(device_type=images.device.type, enabled=False):
            count = batch * clusters * hypotheses
            # T(P)(p) = P(A p + b) with A = R(-theta) / s and b = -A t (the geometry module's
            # convention), theta = base + residual.  R(-base) comes from the geometry module
            # (exact quarter turns); R(-residual) is built here because
            # geometry.rotation_matrices rounds sin/cos to exact 0 near quarter turns, which
            # also zeroes their gradient at a residual of exactly 0 -- where training starts.
            base = rotation_matrices(-self.base_angles.to(images.device))  # (R, 2, 2)
            residual = _inverse_rotation(parameters["rotation"])  # (B, K, R, 2, 2)
            linear = residual @ base / parameters["scale"].unsqueeze(-1).unsqueeze(-1)
            linear = linear.reshape(count, 2, 2)
            offset = -torch.einsum("nij,nj->ni", linear, parameters["translation"].reshape(count, 2))
            affine = torch.cat([linear, offset.unsqueeze(-1)], dim=-1)  # (n, 2, 3)
            source = prototypes.unsqueeze(0).unsqueeze(2).expand(batch, clusters, hypotheses, *self.image_shape)
            source = source.reshape(count, *self.image_shape)
            grid = F.affine_grid(affine, [count, *self.image_shape], align_corners=False)
            rendered = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return rendered.reshape(batch, clusters, hypotheses, *self.image_shape)

    def reconstruction_errors(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Squared errors (B, K, R) of every transformed prototype (sum over pixels), and
        the transformed prototypes (B, K, R, C, H, W)."""
        rendered = self.transformed_prototypes(images)
        with torch.autocast(device_type=images.device.type, enabled=False):
            difference = images.float().unsqueeze(1).unsqueeze(2) - rendered
            errors = difference.pow(2).flatten(3).sum(-1)
        return errors, rendered

    # -- training -------------------------------------------------------------------------

    def training_losses(self, batch: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``total`` = mean over the batch of the best reconstruction error; ``mse`` = that
        per pixel.  ``generator`` only feeds the noise of in-training reassignment."""
        images = self._check_shape(batch, "batch")
        if self.reassign_every and self.training:
            self._maybe_reassign(images, generator)
        errors, _ = self.reconstruction_errors(images)
        best = errors.flatten(1).min(dim=1)
        if self.training:
            with torch.no_grad():
                clusters = torch.div(best.indices, self.rotation_hypotheses, rounding_mode="floor")
                self.assignment_counts += torch.bincount(clusters, minlength=self.n_clusters).to(
                    self.assignment_counts
                )
                self.steps += 1
        total = best.values.mean()
        return {"total": total, "mse": total.detach() / math.prod(self.image_shape)}

    def _check_shape(self, images: Any, name: str) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            raise ValueError(f"{name} must be a float tensor of images, got {getattr(images, 'dtype', type(images))}")
        if images.dim() != 4 or tuple(images.shape[1:]) != self.image_shape or images.shape[0] < 1:
            raise ValueError(
                f"{name} must have shape (B, {', '.join(map(str, self.image_shape))}), got {tuple(images.shape)}"
            )
        return images

    @torch.no_grad()
    def _maybe_reassign(self, images: torch.Tensor, generator: torch.Generator) -> None:
        steps = int(self.steps)
        if steps == 0 or steps % self.reassign_every:
            return
        counts = self.assignment_counts.clone()
        self.assignment_counts.zero_()
        errors, _ = self.reconstruction_errors(images)
        best = errors.flatten(1).min(dim=1)
        clusters = torch.div(best.indices, self.rotation_hypotheses, rounding_mode="floor")
        self._reassign(images, clusters, best.values, counts, self.min_cluster_share, generator)

    # -- assignment -----------------------------------------------------------------------

    @torch.no_grad()
    def assign(
        self, images: torch.Tensor, batch_size: int = 256, return_reconstructions: bool = True
    ) -> DTIAssignment:
        """Cluster of every image (argmin of the reconstruction error over clusters and
        base angles), that error, and the best transformed prototype (eval mode)."""
        images = self._check_images(images, "images")
        batch_size = positive_int(batch_size, "batch_size")
        was_training = self.training
        self.eval()
        try:
            device = self.prototypes.device
            clusters, errors, reconstructions = [], [], []
            for start in range(0, images.shape[0], batch_size):
                chunk = images[start : start + batch_size].to(device)
                error, rendered = self.reconstruction_errors(chunk)
                best = error.flatten(1).min(dim=1)
                clusters.append(torch.div(best.indices, self.rotation_hypotheses, rounding_mode="floor"))
                errors.append(best.values)
                if return_reconstructions:
                    flat = rendered.flatten(1, 2)  # (B, K * R, C, H, W)
                    reconstructions.append(flat[torch.arange(chunk.shape[0], device=device), best.indices])
            return DTIAssignment(
                torch.cat(clusters),
                torch.cat(errors),
                torch.cat(reconstructions) if return_reconstructions else None,
            )
        finally:
            self.train(was_training)

    # -- empty clusters -------------------------------------------------------------------

    @torch.no_grad()
    def reassign_empty_clusters(
        self,
        images: torch.Tensor,
        min_share: float | None = None,
        generator: torch.Generator | None = None,
        batch_size: int = 256,
    ) -> list[int]:
        """Re-seed every cluster holding ``<= min_share`` of ``images`` (default: the
        model's ``min_cluster_share``; 0 = only empty ones).

        Each such cluster in turn takes the worst-reconstructed image of the (then)
        largest cluster as its prototype, plus Gaussian noise of std ``reassign_noise``
        (from ``generator``), and its transformation outputs are reset to the identity;
        that image then counts as its member.  Returns the re-seeded clusters."""
        min_share = self.min_cluster_share if min_share is None else finite_number(min_share, "min_share")
        if min_share >= 1:
            raise ValueError(f"min_share must be < 1, got {min_share!r}")
        result = self.assign(images, batch_size, return_reconstructions=False)
        counts = torch.bincount(result.clusters, minlength=self.n_clusters).float()
        images = images.to(self.prototypes.device)
        return self._reassign(images, result.clusters, result.errors, counts, min_share, generator)

    def _reassign(
        self,
        images: torch.Tensor,
        clusters: torch.Tensor,
        errors: torch.Tensor,
        counts: torch.Tensor,
        min_share: float,
        generator: torch.Generator | None,
    ) -> list[int]:
        counts = counts.detach().float().cpu().clone()
        clusters, errors = clusters.clone(), errors.detach().float().clone()
        total = float(counts.sum())
        if total <= 0:
            return []
        reseeded: list[int] = []
        for cluster in range(self.n_clusters):
            if counts[cluster] > 0 and counts[cluster] / total > min_share:
                continue
            largest = int(torch.argmax(counts))
            members = (clusters == largest).nonzero().flatten()
            if counts[largest] < 2 or members.numel() == 0:
                # The largest cluster cannot give an image away; take the worst image overall.
                members = torch.arange(clusters.shape[0], device=clusters.device)
            pick = members[torch.argmax(errors[members])]
            noise_device = generator.device if generator is not None else self.prototypes.device
            noise = torch.randn(self.image_shape, generator=generator, device=noise_device) * self.reassign_noise
            self.prototypes[cluster] = images[pick].to(self.prototypes) + noise.to(self.prototypes)
            self._reset_transformation(cluster)
            previous = int(clusters[pick])
            counts[previous] -= 1
            counts[cluster] += 1
            clusters[pick] = cluster
            errors[pick] = -math.inf  # not picked twice
            reseeded.append(cluster)
        return reseeded

    def _reset_transformation(self, cluster: int) -> None:
        """Zero the transformation outputs of ``cluster`` (identity at its base angles)."""
        if self.output is None:
            return
        width = self.rotation_hypotheses * self.parameter_count
        rows = slice(cluster * width, (cluster + 1) * width)
        self.output.weight[rows] = 0
        self.output.bias[rows] = 0


def _inverse_rotation(angle: torch.Tensor) -> torch.Tensor:
    """``R(-angle)`` for angles of any shape (..., ) -> (..., 2, 2), differentiable everywhere
    (the same matrix as ``geometry.rotation_matrices(-angle)`` up to its rounding)."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)
