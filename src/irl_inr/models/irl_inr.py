"""IRL-INR (Kwon, Choi and Ryu, ICML 2023): encoder + hypernetwork + INR, and its losses.

The encoder splits an image into a semantic code z and a pose (theta, tau); the
hypernetwork turns z into the weights of an INR, a function on the canonical plane; the
INR rendered under (theta, tau) must give the image back, and under (0, 0) gives the
canonical image.  Training sees two independently re-posed views of every image (and,
with ``contrastive_views`` > 2, more that only the encoder and NT-Xent read).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

import torch
from torch import nn

from irl_inr.geometry import pixel_grid, pixels_to_normalised, random_poses, transform_images
from irl_inr.models.augmentation import distort, draw_appearance
from irl_inr.models.encoder import Encoder, EncoderOutput
from irl_inr.models.hypernetwork import HyperNetwork, LowRankHyperNetwork
from irl_inr.models.inr import INR
from irl_inr.models.irl_inr_config import IRLINRConfig
from irl_inr.models.isometry import relaxed_distortion
from irl_inr.models.losses import (
    consistency_loss,
    contrastive_loss,
    covariance_loss,
    reconstruction_loss,
    symmetry_breaking_loss,
    variance_loss,
)
from irl_inr.training.collectives import BatchShare, batch_statistics_over_ranks
from irl_inr.training.distributed import BatchShard

class IRLINR(nn.Module):
    """Encoder, hypernetwork and INR composed."""

    def __init__(self, config: IRLINRConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(
            config.backbone,
            config.latent_dim,
            config.encoder_head_hidden,
            alignment=config.alignment,
            standardise_code=config.standardise_code,
            channels_last=config.encoder_channels_last,
            recompute_blocks=config.encoder_recompute_blocks,
            code_rotations=tuple(math.radians(angle) for angle in config.code_rotations_degrees),
            image_size=config.image_size,
            layout=config.backbone_layout,
            channels=config.backbone_channels,
            depth=config.backbone_depth,
            in_channels=config.channels,
            radius_channel=config.encoder_radius_channel,
        )
        self.inr = INR(
            config.num_frequencies,
            config.inr_hidden,
            config.fourier_scale,
            config.fourier_seed,
            chunk_pixels=config.inr_chunk_pixels,
            out_channels=config.channels,
        )
        self.hypernetwork: HyperNetwork | LowRankHyperNetwork
        if config.hypernetwork_kind == "full":
            self.hypernetwork = HyperNetwork(
                config.latent_dim,
                config.hypernetwork_hidden,
                self.inr.layer_shapes,
                config.hypernetwork_modulation_scale,
            )
        else:
            self.hypernetwork = LowRankHyperNetwork(
                config.latent_dim,
                config.hypernetwork_hidden,
                self.inr.layer_shapes,
                config.hypernetwork_rank,
                config.hypernetwork_modulated_layer,
                config.hypernetwork_modulation_scale,
            )

    def encode(self, images: torch.Tensor) -> EncoderOutput:
        """images (B, C, H, W) -> z (B, d), theta (B,), tau (B, 2), as a trained model reads
        them: ``Encoder.encode`` (the code averaged over ``code_rotations_degrees``)."""
        return self.encoder.encode(images)

    def render(
        self,
        semantic_code: torch.Tensor,
        rotation: torch.Tensor,
        translation: torch.Tensor,
        height: int,
        width: int,
    ) -> torch.Tensor:
        """The image of code z (B, d) under pose theta (B,), tau (B, 2) -> (B, C, H, W)."""
        return self.inr.render(self.hypernetwork(semantic_code), rotation, translation, height, width)

    def decode_canonical(self, semantic_code: torch.Tensor) -> torch.Tensor:
        """The decoder z (B, d) -> canonical image (B, C*H*W): the INR rendered at pose (0, 0)
        over the full ``image_size`` grid, flattened (what the isometry terms measure)."""
        batch, size = semantic_code.shape[0], self.config.image_size
        zero_rotation = semantic_code.new_zeros(batch, dtype=torch.float32)
        zero_translation = semantic_code.new_zeros(batch, 2, dtype=torch.float32)
        return self.render(semantic_code, zero_rotation, zero_translation, size, size).reshape(batch, -1)

    def canonical(self, images: torch.Tensor) -> torch.Tensor:
        """Each image's canonical image, rendered at pose (0, 0): (B, C, H, W) -> same shape."""
        batch, _, height, width = images.shape
        code = self.encode(images).semantic_code
        zero_rotation = images.new_zeros(batch, dtype=torch.float32)
        zero_translation = images.new_zeros(batch, 2, dtype=torch.float32)
        return self.render(code, zero_rotation, zero_translation, height, width)

    def training_losses(
        self, images: torch.Tensor, generator: torch.Generator, shard: BatchShard | None = None
    ) -> dict[str, torch.Tensor]:
        """The losses of one training step on a batch (B, C, H, W); "total" is the weighted sum.

        Every random draw (views, alignment noise, reconstruction pixels) comes from
        ``generator`` on its own device and is then moved to the images', so a step is
        reproducible from the generator's seed whatever device the model is on.

        ``shard`` (under DDP, from ``irl_inr.training``): ``images`` are rows
        ``shard.rows`` of a global batch of ``shard.size`` that the ranks of the default
        process group share in equal parts.  Every draw is then made for the global batch
        (the single process's draws) and sliced to these rows; the batch-wide terms see
        the global batch (encoder batch norms and code standardisation with global
        statistics, codes gathered with their gradients for NT-Xent negatives, variance,
        covariance and isometry), and each rank's terms are those whose mean over the
        ranks is the single-process term, so DDP's averaged gradient is the single
        process's.  None, or a shard holding the whole batch: the single-process step."""
        config = self.config
        share = BatchShare.of(images, shard)
        # (2b, C, H, W): first views, then second; the encoder sees them distorted, the views stay the targets
        views, noise, seen = self._encoder_views(images, generator, share, 2)
        if config.contrastive_views > 2:  # encoder-only views, drawn after the two reconstructed ones
            _, extra_noise, extra_seen = self._encoder_views(
                images, generator, share, config.contrastive_views - 2, mirror=config.augment_mirror
            )
            seen = torch.cat([seen, extra_seen])
            if noise is not None:
                noise = (torch.cat([noise[0], extra_noise[0]]), torch.cat([noise[1], extra_noise[1]]))
        with batch_statistics_over_ranks() if share.is_split else contextlib.nullcontext():
            encoded = self.encoder(seen, noise)  # (V b, ...)
        view_codes = [share.gather(code) for code in encoded.semantic_code.chunk(config.contrastive_views)]  # V x (B, d)
        batch_code, batch_other_code = view_codes[:2]
        encoded = EncoderOutput(*(value[: len(views)] for value in encoded))  # the two reconstructed views
        if config.consistency == "nt_xent":
            consistency = contrastive_loss(view_codes, config.contrastive_temperature, rows=share.rows)
        else:
            code, other_code = encoded.semantic_code.chunk(2)  # (b, d) each: this rank's rows
            consistency = consistency_loss(code, other_code)
        losses = {
            "reconstruction": self._reconstruction_loss(encoded, views, generator, share),
            "consistency": consistency,
            "symmetry": symmetry_breaking_loss(encoded.translation, views),
            "variance": (variance_loss(batch_code) + variance_loss(batch_other_code)) / 2,
            "covariance": (covariance_loss(batch_code) + covariance_loss(batch_other_code)) / 2,
        }
        total = (
            config.reconstruction_weight * losses["reconstruction"]
            + config.consistency_weight * losses["consistency"]
            + config.symmetry_weight * losses["symmetry"]
            + config.variance_weight * losses["variance"]
            + config.covariance_weight * losses["covariance"]
        )
        if config.isometry_weight > 0:  # drawn last, so the other terms' draws are unchanged
            # On the first isometry_codes codes (the batch is shuffled): every code costs a
            # full-grid render with a forward- and a reverse-mode derivative.
            subset = batch_code[: config.isometry_codes]
            losses["isometry"] = relaxed_distortion(self.decode_canonical, subset, generator, config.isometry_eta)
            total = total + config.isometry_weight * losses["isometry"]
        losses["total"] = total
        return losses

    def _encoder_views(
        self, images: torch.Tensor, generator: torch.Generator, share: BatchShare, count: int, mirror: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None, torch.Tensor]:
        """``count`` re-posed views of every image (count b, C, H, W), the noise on their
        closed-form poses (or None) and the views as the encoder sees them (half of them
        mirrored with ``mirror``), drawn in that order."""
        views = self._views(images, generator, share, count)
        noise = self._alignment_noise(views, generator, share, count)
        return views, noise, self._distorted(views, generator, share, count, mirror)

    def _views(self, images: torch.Tensor, generator: torch.Generator, share: BatchShare, count: int) -> torch.Tensor:
        """``count`` views of every image, each with its own uniform rotation and shift:
        (b, C, H, W) -> (count b, C, H, W), the first view of every image, then the second..."""
        _, _, height, width = images.shape
        max_shift = pixels_to_normalised(self.config.max_shift_pixels, max(height, width))
        views = []
        for _ in range(count):
            rotation, translation = random_poses(share.size, max_shift, generator, generator.device)
            rotation, translation = rotation[share.rows], translation[share.rows]
            views.append(transform_images(images, rotation.to(images.device), translation.to(images.device)))
        return torch.cat(views)

    def _alignment_noise(
        self, views: torch.Tensor, generator: torch.Generator, share: BatchShare, count: int
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Uniform noise on the closed-form pose of each of ``count`` views of every image,
        or None without jitter."""
        config = self.config
        if not (config.alignment_jitter_degrees or config.alignment_jitter_pixels):
            return None
        _, _, height, width = views.shape
        count = count * share.size
        max_angle = math.radians(config.alignment_jitter_degrees)
        max_shift = pixels_to_normalised(config.alignment_jitter_pixels, max(height, width))
        rotation = torch.rand(count, generator=generator, device=generator.device) * 2 - 1
        translation = torch.rand(count, 2, generator=generator, device=generator.device) * 2 - 1
        rotation, translation = share.of_views(rotation), share.of_views(translation)
        return (rotation * max_angle).to(views.device), (translation * max_shift).to(views.device)

    def _distorted(
        self, views: torch.Tensor, generator: torch.Generator, share: BatchShare, count: int, mirror: bool = False
    ) -> torch.Tensor:
        """The ``count`` views of every image with their appearance augmented, or the views
        themselves without."""
        augmentation = dataclasses.replace(self.config.appearance_augmentation(), mirror=mirror)
        if not augmentation.enabled:
            return views
        draw = draw_appearance(count * share.size, augmentation, generator, views.shape[-2:]).rows(share.of_views)
        return distort(views, augmentation, draw)

    def _reconstruction_loss(
        self, encoded: EncoderOutput, views: torch.Tensor, generator: torch.Generator, share: BatchShare
    ) -> torch.Tensor:
        """MSE between the views and their INRs rendered at the predicted poses, averaged
        over the channels and all pixels or ``reconstruction_pixels`` drawn per view (the
        same for every channel; an unbiased estimate)."""
        count, channels, height, width = views.shape
        grid = pixel_grid(height, width, device=views.device)  # (H*W, 2)
        targets = views.reshape(count, channels, height * width)  # (2b, C, H*W)
        if self.config.reconstruction_pixels is None:
            pixels = grid  # shared by all views
        else:
            index = torch.randint(
                height * width,
                (2 * share.size, self.config.reconstruction_pixels),
                generator=generator,
                device=generator.device,
            )
            index = share.of_views(index).to(views.device)  # (2b, K)
            pixels = grid[index]  # (2b, K, 2)
            targets = targets.gather(2, index.unsqueeze(1).expand(-1, channels, -1))  # (2b, C, K)
        weights = self.hypernetwork(encoded.semantic_code)
        predicted = self.inr(weights, encoded.rotation, encoded.translation, pixels)  # (2b, C, K)
        return reconstruction_loss(predicted, targets)
