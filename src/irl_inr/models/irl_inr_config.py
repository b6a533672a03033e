"""The configuration of IRL-INR (:class:`IRLINRConfig`): everything that shapes the model
and its training losses, checked when it is built, with the named ``fast`` and ``paper``
settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping


from irl_inr.models.augmentation import AppearanceAugmentation
from irl_inr.models.encoder import ALIGNMENTS, BACKBONES
from irl_inr.parameters import is_int, is_number

CONSISTENCIES = ("nt_xent", "cosine")
HYPERNETWORK_KINDS = ("full", "low_rank")


@dataclass(frozen=True)
class IRLINRConfig:
    """Everything that shapes the model and its training losses.

    The defaults are the plain IRL-INR step of the ``fast`` configuration (minutes on two
    CPU cores); :meth:`fast` adds its appearance augmentation of the encoder's views, and
    :meth:`paper` is the paper's MNIST-U architecture and losses."""

    image_size: int = 50  # training images are image_size x image_size
    # Channels of the images (1: grey, 3: colour) that the encoder reads and the INR renders:
    # not a parameter, the training node reads it off the training images.
    channels: int = 1
    latent_dim: int = 32  # d, the size of the semantic code z
    backbone: str = "small_cnn"  # "small_cnn" | "resnet18"
    encoder_head_hidden: int = 256  # width of the encoder's MLP head
    # small_cnn only: the side of the grid its last feature map is average-pooled to before
    # the head; None hands the head the whole map (7 x 7 for 50-pixel images, 4 x 4 for 32).
    backbone_layout: int | None = 4
    # small_cnn only: the width of each stride-2 stage and the convolutions per stage.
    backbone_channels: tuple[int, ...] = (32, 64, 128)
    backbone_depth: int = 1
    # The distance of each pixel from the image centre as one more input channel of the encoder.
    encoder_radius_channel: bool = False
    # "moments" (closed-form pose first) | "moments_centred" (its rotation about the image
    # centre alone, for centred images) | "none" (paper)
    alignment: str = "moments"
    standardise_code: bool = True  # batch-standardise z (anti-collapse)
    num_frequencies: int = 64  # Fourier features of the INR
    fourier_scale: float = 2.0  # sigma of B ~ N(0, sigma^2)
    fourier_seed: int = 0
    inr_hidden: tuple[int, ...] = (64, 64)
    hypernetwork_hidden: tuple[int, ...] = (256, 256)
    hypernetwork_modulation_scale: float = 0.1  # initial size of z's effect on the INR
    # "full": z -> every INR weight (the paper); "low_rank": shared INR weights and a
    # per-image rank-r modulation W + U(z) V^T of one layer (Kim et al., CVPR 2023).
    hypernetwork_kind: str = "full"
    hypernetwork_rank: int = 8  # r, "low_rank" only
    hypernetwork_modulated_layer: int = 1  # INR layer modulated by "low_rank" (0 reads the Fourier features)
    # Training step.
    max_shift_pixels: float = 5.0  # views: uniform rotation, shift uniform in +-this
    alignment_jitter_degrees: float = 20.0  # "moments": noise on the closed-form pose,
    alignment_jitter_pixels: float = 1.5  # uniform in +-these, per view
    # Appearance augmentation of the views the encoder sees (irl_inr.models.augmentation);
    # the reconstruction target stays the undistorted view.  All 0: none.
    augment_scale: float = 0.0  # log-scale uniform in +-this
    augment_aspect: float = 0.0  # log aspect ratio uniform in +-this
    augment_shear: float = 0.0  # shear uniform in +-this
    augment_elastic_pixels: float = 0.0  # standard deviation of a smooth elastic warp, pixels
    augment_stroke: float = 0.0  # blend towards a 3x3 dilation / erosion, uniform in +-this (<= 1)
    # Die-state maps (wafers): shares (uniform in [0, this] per view) of good dies turned
    # defective and of defective dies turned good, the levels of a good and a defective die,
    # and a mirror image (probability 1/2) for the encoder-only views (contrastive_views > 2;
    # a mirrored view could not be rendered back by a rotation).
    augment_random_defects: float = 0.0
    augment_defect_dropout: float = 0.0
    augment_die_levels: tuple[float, float] = (0.25, 1.0)
    augment_mirror: bool = False
    reconstruction_pixels: int | None = 500  # pixels per view in the MSE; None: all
    consistency: str = "nt_xent"  # "nt_xent" (contrastive) | "cosine" (paper)
    contrastive_temperature: float = 0.2
    # Views of every image the encoder sees per step ("nt_xent" only): the first two are
    # also reconstructed; the others are encoder-only views for NT-Xent, which then pulls
    # together all views of an image (more positives per image; measured on the fast model,
    # each extra view adds ~12 % to the training time at 1 thread, ~22 % at 2).
    contrastive_views: int = 2
    reconstruction_weight: float = 1.0
    consistency_weight: float = 1.0
    symmetry_weight: float = 15.0
    variance_weight: float = 0.0
    covariance_weight: float = 0.0
    # Relaxed distortion measure (IRVAE, Lee et al., ICLR 2022) of the decoder z -> canonical
    # image; 0 turns it off (then it is not computed).  Codes are mixed with
    # t ~ U[-eta, 1 + eta].
    isometry_weight: float = 0.0
    isometry_eta: float = 0.2
    isometry_codes: int = 16  # first-view codes of the batch whose canonical images it differentiates
    # Speed and memory only (same values up to float rounding, see the tests):
    # the INR evaluates this many pixels per image at a time and recomputes each chunk's
    # activations in the backward pass instead of keeping them; None: all pixels at once.
    inr_chunk_pixels: int | None = None
    encoder_channels_last: bool = False  # the encoder's convolutions in channels-last memory format
    # resnet18 only: its first this many (of 8) residual blocks recompute their
    # activations in the backward pass instead of keeping them; 0: none
    encoder_recompute_blocks: int = 0
    # Inference only (training never reads it): with "moments" alignment an image's code is
    # the mean of its codes un-posed at the closed-form pose turned by each of these angles,
    # so the rotation noise the encoder was trained with is averaged out rather than
    # sampled once; its pose is that of the 0 turn.  (0,): one pass.
    code_rotations_degrees: tuple[float, ...] = (0.0,)

    # Fields that change what a trained model computes, not what training does: they stay
    # out of the training checkpoint's identity (``training_fields``).
    INFERENCE_ONLY: ClassVar[tuple[str, ...]] = ("code_rotations_degrees",)
    # Options added after checkpoints had been written: left out of the identity while at
    # their default, so that those checkpoints stay resumable.
    LATER_OPTIONS: ClassVar[tuple[str, ...]] = (
        "backbone_channels", "backbone_depth", "augment_random_defects", "augment_defect_dropout",
        "augment_die_levels", "augment_mirror", "channels", "encoder_radius_channel",
    )

    def __post_init__(self) -> None:
        def fail(name: str, wanted: str) -> None:
            raise ValueError(f"IRLINRConfig.{name} must be {wanted}, got {getattr(self, name)!r}")

        for name in ("image_size", "channels", "latent_dim", "encoder_head_hidden", "num_frequencies"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                fail(name, "a positive integer")
        for name in ("inr_hidden", "hypernetwork_hidden"):
            widths = getattr(self, name)
            if isinstance(widths, (str, bytes)) or not isinstance(widths, (list, tuple)) or not widths:
                fail(name, "a non-empty list of positive integers")
            if not all(is_int(width) and width >= 1 for width in widths):
                fail(name, "a non-empty list of positive integers")
            object.__setattr__(self, name, tuple(widths))
        for name, choices in (
            ("backbone", BACKBONES),
            ("alignment", ALIGNMENTS),
            ("consistency", CONSISTENCIES),
            ("hypernetwork_kind", HYPERNETWORK_KINDS),
        ):
            if getattr(self, name) not in choices:
                fail(name, f"one of {choices}")
        for name in ("standardise_code", "encoder_channels_last", "encoder_radius_channel"):
            if not isinstance(getattr(self, name), bool):
                fail(name, "true or false")
        if not is_int(self.fourier_seed):
            fail("fourier_seed", "an integer")
        if self.reconstruction_pixels is not None and not (
            is_int(self.reconstruction_pixels) and self.reconstruction_pixels >= 1
        ):
            fail("reconstruction_pixels", "a positive integer or None (all pixels)")
        if self.inr_chunk_pixels is not None and not (is_int(self.inr_chunk_pixels) and self.inr_chunk_pixels >= 1):
            fail("inr_chunk_pixels", "a positive integer or None (all pixels at once)")
        for name in ("fourier_scale", "hypernetwork_modulation_scale", "contrastive_temperature"):
            if not is_number(getattr(self, name)) or getattr(self, name) <= 0:
                fail(name, "a positive number")
        for name in (
            "max_shift_pixels",
            "alignment_jitter_degrees",
            "alignment_jitter_pixels",
            "reconstruction_weight",
            "consistency_weight",
            "symmetry_weight",
            "variance_weight",
            "covariance_weight",
            "isometry_weight",
            "isometry_eta",
            "augment_scale",
            "augment_aspect",
            "augment_shear",
            "augment_elastic_pixels",
        ):
            if not is_number(getattr(self, name)) or getattr(self, name) < 0:
                fail(name, "a non-negative number")
        for name in ("augment_stroke", "augment_random_defects", "augment_defect_dropout"):
            if not is_number(getattr(self, name)) or not 0 <= getattr(self, name) <= 1:
                fail(name, "a number in [0, 1]")
        levels = self.augment_die_levels
        if (
            isinstance(levels, (str, bytes))
            or not isinstance(levels, (list, tuple))
            or len(levels) != 2
            or not all(is_number(level) for level in levels)
            or not 0 < levels[0] < levels[1]
        ):
            fail("augment_die_levels", "two numbers 0 < good die < defective die")
        object.__setattr__(self, "augment_die_levels", tuple(float(level) for level in levels))
        if not isinstance(self.augment_mirror, bool):
            fail("augment_mirror", "true or false")
        if self.augment_mirror and self.contrastive_views < 3:
            fail("augment_mirror", "false unless contrastive_views > 2 (only encoder-only views are mirrored)")
        if not is_int(self.contrastive_views) or self.contrastive_views < 2:
            fail("contrastive_views", "an integer of at least 2")
        if self.contrastive_views != 2 and self.consistency != "nt_xent":
            fail("contrastive_views", "2 unless consistency is 'nt_xent' (the cosine consistency pairs two views)")
        if not is_int(self.isometry_codes) or self.isometry_codes < 2:
            fail("isometry_codes", "an integer of at least 2 (codes are mixed in pairs)")
        if not is_int(self.encoder_recompute_blocks) or not 0 <= self.encoder_recompute_blocks <= 8:
            fail("encoder_recompute_blocks", "an integer in 0..8 (ResNet-18's residual blocks)")
        if self.encoder_recompute_blocks and self.backbone != "resnet18":
            fail("encoder_recompute_blocks", "0 unless backbone is 'resnet18'")
        if self.backbone_layout is not None and not (is_int(self.backbone_layout) and self.backbone_layout >= 1):
            fail("backbone_layout", "a positive integer or None (the whole last feature map)")
        channels = self.backbone_channels
        if isinstance(channels, (str, bytes)) or not isinstance(channels, (list, tuple)) or not channels or not all(
            is_int(width) and width >= 1 for width in channels
        ):
            fail("backbone_channels", "a non-empty list of positive integers")
        object.__setattr__(self, "backbone_channels", tuple(channels))
        if not is_int(self.backbone_depth) or self.backbone_depth < 1:
            fail("backbone_depth", "a positive integer")
        if self.backbone != "small_cnn" and (self.backbone_channels != (32, 64, 128) or self.backbone_depth != 1):
            fail("backbone_channels", "(32, 64, 128) with backbone_depth 1 unless backbone is 'small_cnn'")
        if self.backbone != "small_cnn" and self.backbone_layout != 4:
            fail("backbone_layout", "4 (its default) unless backbone is 'small_cnn'; resnet18 pools to one value per channel")
        for name in ("hypernetwork_rank", "hypernetwork_modulated_layer"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 0:
                fail(name, "a non-negative integer")
        if self.hypernetwork_kind == "low_rank":  # the full hypernetwork ignores rank and layer
            layer_shapes = self.inr_layer_shapes()
            if self.hypernetwork_modulated_layer >= len(layer_shapes):
                fail("hypernetwork_modulated_layer", f"an INR layer index in 0..{len(layer_shapes) - 1}")
            out, inp = layer_shapes[self.hypernetwork_modulated_layer]
            if not 1 <= self.hypernetwork_rank <= min(out, inp):
                fail("hypernetwork_rank", f"an integer in 1..{min(out, inp)} (the modulated layer is {out} x {inp})")
        if self.alignment == "none":
            for name in ("alignment_jitter_degrees", "alignment_jitter_pixels"):
                if getattr(self, name) != 0:
                    fail(name, "0 without an alignment")
        angles = self.code_rotations_degrees
        if isinstance(angles, (str, bytes)) or not isinstance(angles, (list, tuple)) or not angles:
            fail("code_rotations_degrees", "a non-empty list of angles in degrees")
        if not all(is_number(angle) and -180 <= angle <= 180 for angle in angles) or 0 not in angles:
            fail("code_rotations_degrees", "a list of angles in [-180, 180] degrees that includes 0")
        if len(set(angles)) != len(angles):
            fail("code_rotations_degrees", "a list of different angles (a repeated one would count twice)")
        if self.alignment == "none" and any(angle != 0 for angle in angles):
            fail("code_rotations_degrees", "[0] without an alignment")
        object.__setattr__(self, "code_rotations_degrees", tuple(float(angle) for angle in angles))

    def appearance_augmentation(self) -> AppearanceAugmentation:
        """The ``augment_*`` fields as the augmentation of the encoder's views."""
        return AppearanceAugmentation(
            scale=self.augment_scale,
            aspect=self.augment_aspect,
            shear=self.augment_shear,
            elastic_pixels=self.augment_elastic_pixels,
            stroke=self.augment_stroke,
            random_defects=self.augment_random_defects,
            defect_dropout=self.augment_defect_dropout,
            die_levels=self.augment_die_levels,
        )

    def inr_layer_shapes(self) -> list[tuple[int, int]]:
        """(out, in) of every INR layer, as ``INR.layer_shapes``."""
        widths = [2 * self.num_frequencies, *self.inr_hidden, self.channels]
        return [(fan_out, fan_in) for fan_in, fan_out in zip(widths[:-1], widths[1:])]

    def training_fields(self) -> dict[str, Any]:
        """The fields that training reads (all but ``INFERENCE_ONLY``, and ``LATER_OPTIONS``
        at their defaults): the identity of a training checkpoint, so that changing how a
        trained model is read keeps it resumable."""
        defaults = {field.name: field.default for field in dataclasses.fields(self)}
        return {
            key: value for key, value in dataclasses.asdict(self).items()
            if key not in self.INFERENCE_ONLY and not (key in self.LATER_OPTIONS and value == defaults[key])
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "IRLINRConfig":
        """A config from plain values (e.g. parsed YAML); unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"IRLINRConfig has no field(s) {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def fast(cls) -> "IRLINRConfig":
        """The default of ``conf/base/parameters_training.yml``: MNIST-U in minutes on a CPU,
        the backbone's whole last feature map read by the head, the encoder's views distorted
        in appearance, codes averaged over three turns."""
        return cls(
            backbone_layout=None,
            augment_scale=0.15, augment_aspect=0.1, augment_shear=0.2, augment_elastic_pixels=1.5, augment_stroke=0.5,
            code_rotations_degrees=(-20.0, 0.0, 20.0),
        )

    @classmethod
    def paper(cls) -> "IRLINRConfig":
        """The paper's MNIST-U model and loss weights: ResNet-18, d = 32, 256 frequencies,
        INR and hypernetwork 256 x 3, cosine consistency, no alignment or standardisation
        of z, the whole image reconstructed."""
        return cls(
            backbone="resnet18",
            encoder_head_hidden=512,
            alignment="none",
            alignment_jitter_degrees=0.0,
            alignment_jitter_pixels=0.0,
            consistency="cosine",
            standardise_code=False,
            num_frequencies=256,
            inr_hidden=(256, 256, 256),
            hypernetwork_hidden=(256, 256, 256),
            reconstruction_pixels=None,
        )
