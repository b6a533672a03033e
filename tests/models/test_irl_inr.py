"""IRL-INR composed: the config, the public methods, the training step."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
import yaml

from irl_inr.geometry import pixel_grid, transform_images
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.models.losses import contrastive_loss

PROJECT_ROOT = Path(__file__).resolve().parents[2]

SIZE = 28
TINY = dict(
    image_size=SIZE,
    latent_dim=8,
    encoder_head_hidden=32,
    num_frequencies=16,
    inr_hidden=(32, 32),
    hypernetwork_hidden=(32,),
    reconstruction_pixels=100,
    max_shift_pixels=2.0,
)


def tiny_model(**overrides) -> IRLINR:
    torch.manual_seed(0)
    return IRLINR(IRLINRConfig(**{**TINY, **overrides}))


def strokes(count: int, seed: int = 0) -> torch.Tensor:
    """(count, 1, SIZE, SIZE) smooth 'digits': an elongated stroke and a bump, randomly
    shaped and posed, one of two kinds (bump above or beside the stroke)."""
    generator = torch.Generator().manual_seed(seed)
    grid = pixel_grid(SIZE).reshape(1, SIZE, SIZE, 2)
    x, y = grid[..., 0], grid[..., 1]
    length = 0.25 + 0.1 * torch.rand(count, 1, 1, generator=generator)
    beside = (torch.arange(count) % 2).reshape(count, 1, 1).float()
    bump_x, bump_y = 0.2 * beside, 0.25 * (1 - beside)
    image = torch.exp(-(x**2 / (2 * 0.08**2) + y**2 / (2 * length**2)))
    image = image + 0.8 * torch.exp(-((x - bump_x) ** 2 + (y - bump_y) ** 2) / (2 * 0.08**2))
    image = image.clamp(max=1).unsqueeze(1)
    rotation = torch.rand(count, generator=generator) * 2 * math.pi
    return transform_images(image, rotation, (torch.rand(count, 2, generator=generator) - 0.5) * 0.1)


# --------------------------------------------------------------------------- config


def test_fast_is_the_default_with_augmentation_and_paper_is_the_papers():
    fast = IRLINRConfig.fast()
    assert fast.appearance_augmentation().enabled and not IRLINRConfig().appearance_augmentation().enabled
    plain = {name: 0.0 for name in ("augment_scale", "augment_aspect", "augment_shear", "augment_elastic_pixels", "augment_stroke")}
    assert fast.code_rotations_degrees == (-20.0, 0.0, 20.0) and IRLINRConfig().code_rotations_degrees == (0.0,)
    assert fast.backbone_layout is None and IRLINRConfig().backbone_layout == 4
    assert dataclasses.replace(fast, **plain, code_rotations_degrees=(0.0,), backbone_layout=4) == IRLINRConfig()
    project = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_training.yml").read_text())
    assert IRLINRConfig.from_dict(project["training"]["configurations"]["fast"]["model"]) == fast
    full = IRLINRConfig.from_dict(project["training"]["configurations"]["full"]["model"])
    assert full == dataclasses.replace(fast, contrastive_views=6)  # the fast model with six NT-Xent views
    assert not IRLINRConfig.paper().appearance_augmentation().enabled
    paper = IRLINRConfig.paper()
    assert (paper.image_size, paper.latent_dim, paper.num_frequencies) == (50, 32, 256)
    assert paper.backbone == "resnet18"
    assert paper.inr_hidden == (256, 256, 256) and paper.hypernetwork_hidden == (256, 256, 256)
    assert (paper.reconstruction_weight, paper.consistency_weight, paper.symmetry_weight) == (1, 1, 15)


def test_from_dict_round_trips_and_turns_lists_into_tuples():
    values = dataclasses.asdict(IRLINRConfig.paper())
    values["inr_hidden"] = list(values["inr_hidden"])
    config = IRLINRConfig.from_dict(values)
    assert config == IRLINRConfig.paper()
    assert isinstance(config.inr_hidden, tuple)


@pytest.mark.parametrize(
    "field, value",
    [
        ("image_size", 0),
        ("latent_dim", 2.5),
        ("encoder_head_hidden", True),
        ("num_frequencies", -1),
        ("inr_hidden", ()),
        ("inr_hidden", (64, 0)),
        ("hypernetwork_hidden", "256"),
        ("backbone", "vgg"),
        ("alignment", "pca"),
        ("standardise_code", "yes"),
        ("fourier_scale", 0.0),
        ("fourier_seed", 1.5),
        ("hypernetwork_modulation_scale", -1.0),
        ("max_shift_pixels", -1.0),
        ("reconstruction_pixels", 0),
        ("symmetry_weight", -15.0),
        ("consistency_weight", float("nan")),
        ("consistency", "infonce"),
        ("contrastive_temperature", 0),
        ("alignment_jitter_pixels", -1.0),
        ("inr_chunk_pixels", 0),
        ("inr_chunk_pixels", 2.5),
        ("encoder_channels_last", 1),
        ("encoder_radius_channel", "yes"),
        ("encoder_recompute_blocks", 1),  # the default backbone is small_cnn
        ("encoder_recompute_blocks", 9),
        ("backbone_layout", 0),
        ("backbone_layout", 2.5),
        ("contrastive_views", 1),
        ("contrastive_views", 2.5),
        ("code_rotations_degrees", ()),
        ("code_rotations_degrees", "0"),
        ("code_rotations_degrees", (-20.0, 20.0)),  # no unturned pass
        ("code_rotations_degrees", (0.0, 200.0)),
        ("code_rotations_degrees", (0.0, float("nan"))),
        ("code_rotations_degrees", (0.0, 20.0, 20.0)),
    ],
)
def test_bad_values_are_errors_that_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        IRLINRConfig(**{field: value})


def test_alignment_jitter_needs_the_moment_alignment():
    with pytest.raises(ValueError, match="alignment_jitter_degrees"):
        IRLINRConfig(alignment="none")
    IRLINRConfig(**NO_ALIGNMENT)


def test_code_rotations_need_the_moment_alignment_and_stay_out_of_training_fields():
    with pytest.raises(ValueError, match="code_rotations_degrees"):
        IRLINRConfig(**NO_ALIGNMENT, code_rotations_degrees=[-20, 0, 20])
    config = IRLINRConfig(code_rotations_degrees=[-20, 0, 20])
    assert config.code_rotations_degrees == (-20.0, 0.0, 20.0)
    assert config.training_fields() == IRLINRConfig().training_fields()
    assert "code_rotations_degrees" not in config.training_fields()
    later = set(IRLINRConfig.LATER_OPTIONS)
    assert set(config.training_fields()) | {"code_rotations_degrees"} | later == set(dataclasses.asdict(config))


def test_later_options_join_the_training_identity_only_when_set():
    """Options added after checkpoints were written leave the identity alone at their
    defaults (those checkpoints stay resumable) and are part of it once set."""
    plain = IRLINRConfig().training_fields()
    assert not set(IRLINRConfig.LATER_OPTIONS) & set(plain)
    assert IRLINRConfig(backbone_channels=[32, 64, 128], augment_die_levels=[0.25, 1.0]).training_fields() == plain
    changed = IRLINRConfig(backbone_channels=[16, 32], augment_random_defects=0.1).training_fields()
    assert changed["backbone_channels"] == (16, 32) and changed["augment_random_defects"] == 0.1
    assert {key: value for key, value in changed.items() if key in plain} == plain


def test_encode_reads_images_with_the_configured_rotations():
    """IRLINR.encode is the encoder's averaged read-out, in radians."""
    torch.manual_seed(0)
    model = IRLINR(IRLINRConfig(image_size=SIZE, latent_dim=4, code_rotations_degrees=[-20, 0, 20])).eval()
    images = torch.rand(3, 1, SIZE, SIZE)
    with torch.no_grad():
        encoded = model.encode(images)
        turns = [model.encoder(images, (torch.full((3,), math.radians(a)), torch.zeros(3, 2))) for a in (-20, 0, 20)]
    torch.testing.assert_close(encoded.semantic_code, torch.stack([t.semantic_code for t in turns]).mean(0))
    torch.testing.assert_close(encoded.rotation, turns[1].rotation)


def test_unknown_keys_are_errors_that_name_them():
    with pytest.raises(ValueError, match="latent_size"):
        IRLINRConfig.from_dict({"latent_size": 32})


def test_the_paper_hypernetwork_emits_the_papers_inr():
    """The paper's model sizes, checked without building 68 M parameters: 263,169 INR
    parameters per image, emitted by a 256 x 3 hypernetwork (~67.8 M)."""
    config = IRLINRConfig.paper()
    with torch.device("meta"):
        model = IRLINR(config)
    inr_parameters = sum(out * inp + out for out, inp in model.inr.layer_shapes)
    assert inr_parameters == 263_169
    hypernetwork_parameters = sum(p.numel() for p in model.hypernetwork.parameters())
    assert 67.5e6 < hypernetwork_parameters < 68.1e6


# --------------------------------------------------------------------------- methods


NO_ALIGNMENT = dict(alignment="none", alignment_jitter_degrees=0.0, alignment_jitter_pixels=0.0)


@pytest.mark.parametrize("alignment", [NO_ALIGNMENT, {}])
def test_encode_render_canonical_shapes(alignment):
    model = tiny_model(**alignment).eval()
    images = strokes(3)
    encoded = model.encode(images)
    assert encoded.semantic_code.shape == (3, 8)
    assert encoded.rotation.shape == (3,) and encoded.translation.shape == (3, 2)
    rendered = model.render(*encoded, 20, 24)
    assert rendered.shape == (3, 1, 20, 24) and rendered.dtype == torch.float32
    assert model.canonical(images).shape == (3, 1, SIZE, SIZE)


def test_canonical_is_the_render_at_pose_zero():
    model = tiny_model().eval()
    images = strokes(2)
    code = model.encode(images).semantic_code
    expected = model.render(code, torch.zeros(2), torch.zeros(2, 2), SIZE, SIZE)
    torch.testing.assert_close(model.canonical(images), expected)


def test_training_losses_hold_every_term_and_a_weighted_total():
    model = tiny_model(variance_weight=2.0, covariance_weight=0.5)
    losses = model.training_losses(strokes(8), torch.Generator().manual_seed(0))
    assert set(losses) == {"reconstruction", "consistency", "symmetry", "variance", "covariance", "total"}
    assert all(v.shape == () and torch.isfinite(v) for v in losses.values())
    config = model.config
    expected = (
        losses["reconstruction"]
        + losses["consistency"]
        + 15 * losses["symmetry"]
        + 2 * losses["variance"]
        + 0.5 * losses["covariance"]
    )
    torch.testing.assert_close(losses["total"], expected)
    assert config.symmetry_weight == 15


def test_extra_contrastive_views_are_encoder_only_and_all_in_nt_xent():
    """With contrastive_views 4 the encoder codes four views of each image; the first two
    are the two-view step's draws (the same codes in eval mode, where a code depends on
    its image alone) and the only ones the other terms read; NT-Xent pulls all four together."""
    images = strokes(8)
    two, four = tiny_model(), tiny_model(contrastive_views=4)
    codes = {}
    for name, model in (("two", two), ("four", four)):
        model.eval()
        model.encoder.register_forward_hook(lambda module, inputs, output, name=name: codes.__setitem__(name, output))
    with torch.no_grad():
        two_views = two.training_losses(images, torch.Generator().manual_seed(3))
        four_views = four.training_losses(images, torch.Generator().manual_seed(3))
    assert codes["two"].semantic_code.shape == (16, 8) and codes["four"].semantic_code.shape == (32, 8)
    for value, first_two in zip(codes["four"], codes["two"]):
        torch.testing.assert_close(value[:16], first_two)
    torch.testing.assert_close(four_views["symmetry"], two_views["symmetry"])
    views = list(codes["four"].semantic_code.chunk(4))
    torch.testing.assert_close(four_views["consistency"], contrastive_loss(views, four.config.contrastive_temperature))
    assert not torch.allclose(four_views["consistency"], two_views["consistency"])
    with pytest.raises(ValueError, match="contrastive_views"):
        IRLINRConfig(consistency="cosine", contrastive_views=3)


def test_a_training_step_is_reproducible_from_the_generator_seed():
    images = strokes(8)
    first = tiny_model().training_losses(images, torch.Generator().manual_seed(3))
    again = tiny_model().training_losses(images, torch.Generator().manual_seed(3))
    other = tiny_model().training_losses(images, torch.Generator().manual_seed(4))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["reconstruction"], other["reconstruction"])


def test_all_pixels_can_be_reconstructed():
    model = tiny_model(reconstruction_pixels=None)
    losses = model.training_losses(strokes(4), torch.Generator().manual_seed(0))
    assert torch.isfinite(losses["total"])


def test_gradients_reach_every_trainable_part():
    model = tiny_model()
    model.training_losses(strokes(8), torch.Generator().manual_seed(0))["total"].backward()
    for part in (model.encoder.backbone, model.encoder.code_head, model.encoder.rotation_head, model.hypernetwork):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters()), part


@pytest.mark.parametrize("hypernetwork", [{}, {"hypernetwork_kind": "low_rank", "hypernetwork_rank": 4}],
                         ids=["full", "low_rank"])
@pytest.mark.learned
def test_a_few_adam_steps_reduce_the_loss(hypernetwork):
    """200 images, two epochs of Adam in batches of 40: the loss on a fixed batch and
    fixed views drops well below where it started, with either hypernetwork."""
    model = tiny_model(**hypernetwork)
    images = strokes(200)

    def held_out_loss() -> float:
        with torch.no_grad():
            return model.training_losses(images[:64], torch.Generator().manual_seed(99))["total"].item()

    before = held_out_loss()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        for batch in torch.randperm(200, generator=generator).split(40):
            losses = model.training_losses(images[batch], generator)
            optimiser.zero_grad()
            losses["total"].backward()
            optimiser.step()
    assert held_out_loss() < 0.7 * before


def test_bfloat16_autocast_gives_close_losses():
    model = tiny_model()
    images = strokes(8)
    exact = model.training_losses(images, torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = model.training_losses(images, torch.Generator().manual_seed(0))
    assert all(v.dtype == torch.float32 for v in mixed.values())
    assert abs(mixed["reconstruction"].item() - exact["reconstruction"].item()) < 0.1 * exact["reconstruction"].item()


@pytest.mark.parametrize(
    "reconstruction_pixels, backbone, options",
    [
        (100, "small_cnn", {"inr_chunk_pixels": 64, "encoder_channels_last": True}),
        (None, "small_cnn", {"inr_chunk_pixels": 64, "encoder_channels_last": True}),
        # (channels-last ResNet-18 gradients: see test_encoder's channels-last test)
        (None, "resnet18", {"inr_chunk_pixels": 300, "encoder_recompute_blocks": 3}),
    ],
    ids=["pixel_subset", "all_pixels", "resnet18"],
)
def test_speed_options_give_the_same_training_step(reconstruction_pixels, backbone, options):
    """Pixel chunks (recomputed in backward), channels-last convolutions and recomputed
    ResNet blocks: the same losses, gradients and batch-norm statistics as the plain step,
    up to float rounding (each gradient within 1e-4 of its largest entry: channels-last
    convolutions sum in another order, 1e-5 to 3e-5 measured with 1 or 2 threads; a wrong
    gradient is off by O(1)).  Without code standardisation, whose gradient w.r.t. the code head's bias is zero up to rounding."""
    images = strokes(6)
    results = []
    for chosen in ({}, options):
        model = tiny_model(
            **NO_ALIGNMENT,
            backbone=backbone,
            standardise_code=False,
            reconstruction_pixels=reconstruction_pixels,
            **chosen,
        )
        losses = model.training_losses(images, torch.Generator().manual_seed(5))
        losses["total"].backward()
        results.append((losses, {name: p.grad for name, p in model.named_parameters()}, model.encoder.buffers()))
    (plain, plain_grads, plain_buffers), (fast, fast_grads, fast_buffers) = results
    for name in plain:
        torch.testing.assert_close(fast[name], plain[name], rtol=1e-5, atol=1e-6)
    for name, grad in plain_grads.items():
        assert (fast_grads[name] - grad).abs().max() <= 1e-4 * grad.abs().max(), name
    for ours, theirs in zip(fast_buffers, plain_buffers, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_backbone_layout_is_small_cnn_only():
    with pytest.raises(ValueError, match="backbone_layout"):
        dataclasses.replace(IRLINRConfig.paper(), backbone_layout=None)
    assert IRLINRConfig(backbone_layout=None).backbone_layout is None
