"""The encoder: shapes, backbones, pose heads, and what the moment alignment guarantees."""

from __future__ import annotations

import math

import pytest
import torch

from irl_inr.geometry import canonical_coordinates, pixel_grid, pixels_to_normalised, transform_images
from irl_inr.models.encoder import (
    Encoder,
    EncoderOutput,
    ResNet18,
    SmallCNN,
    build_backbone,
    compose_poses,
    unpose,
)
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.moments import moment_pose

SIZE = 32


def asymmetric_blob(size: int = SIZE) -> torch.Tensor:
    """(1, 1, size, size): an elongated Gaussian and an off-axis bump (well-defined moments)."""
    grid = pixel_grid(size).reshape(size, size, 2)
    x, y = grid[..., 0], grid[..., 1]
    body = torch.exp(-(x**2 / (2 * 0.1**2) + y**2 / (2 * 0.3**2)))
    bump = 0.8 * torch.exp(-((x - 0.2) ** 2 + (y - 0.25) ** 2) / (2 * 0.1**2))
    return (body + bump)[None, None]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("backbone, features", [("small_cnn", 2048), ("resnet18", 512)])
def test_backbones_take_the_images_channels(backbone, features, channels):
    net = build_backbone(backbone, in_channels=channels)
    assert net.out_features == features
    assert net(torch.rand(2, channels, 20, 20)).shape == (2, features)
    assert build_backbone(backbone).layers[0].in_channels == 1  # one channel by default


@pytest.mark.parametrize("alignment", ["none", "moments", "moments_centred"])
def test_a_colour_encoder_reads_a_grey_image_in_three_channels_as_its_grey_twin(alignment):
    """Three equal channels have the grey image as their mean (the moment pose's input),
    and a first convolution whose weights are the grey one's split over the channels sums
    them back to the grey one's response: the codes and poses of the grey encoder."""
    torch.manual_seed(0)
    grey = Encoder("small_cnn", latent_dim=6, head_hidden=16, alignment=alignment).eval()
    colour = Encoder("small_cnn", latent_dim=6, head_hidden=16, alignment=alignment, in_channels=3).eval()
    state = grey.state_dict()
    state["backbone.layers.0.weight"] = state["backbone.layers.0.weight"].repeat(1, 3, 1, 1) / 3
    colour.load_state_dict(state)
    images = transform_images(asymmetric_blob().expand(4, -1, -1, -1), torch.tensor([0.0, 1.0, 2.5, 4.0]))
    with torch.no_grad():
        for grey_value, colour_value in zip(grey(images), colour(images.expand(-1, 3, -1, -1)), strict=True):
            torch.testing.assert_close(colour_value, grey_value, rtol=1e-4, atol=1e-5)


def test_images_of_other_channels_than_the_encoders_are_refused():
    with pytest.raises(ValueError, match=r"takes images \(B, 3, H, W\).*got \(2, 1, 32, 32\)"):
        Encoder("small_cnn", 4, 8, in_channels=3)(torch.rand(2, 1, SIZE, SIZE))
    with pytest.raises(ValueError, match=r"takes images \(B, 1, H, W\)"):
        Encoder("small_cnn", 4, 8)(torch.rand(2, 3, SIZE, SIZE))


@pytest.mark.parametrize("image_size, side", [(50, 7), (32, 4), (24, 3), (9, 2)])
def test_small_cnn_hands_the_head_its_whole_last_map_without_a_layout(image_size, side):
    whole, pooled = SmallCNN(image_size, layout=None), SmallCNN(image_size, layout=4)
    pooled.load_state_dict(whole.state_dict())  # the same parameters, only the read-out differs
    images = torch.rand(2, 1, image_size, image_size)
    assert whole.out_features == 128 * side * side and pooled.out_features == 128 * 4 * 4
    features = whole(images)
    assert features.shape == (2, whole.out_features)
    # The whole map is the convolutions' output itself: average-pooling it to 4 x 4 gives
    # the pooled backbone's features exactly.
    grid = features.reshape(2, 128, side, side)
    torch.testing.assert_close(torch.nn.functional.adaptive_avg_pool2d(grid, 4).flatten(1), pooled(images))


def test_small_cnn_layout_is_a_positive_side_and_reaches_the_head():
    with pytest.raises(ValueError, match="layout"):
        SmallCNN(50, layout=0)
    encoder = Encoder("small_cnn", 4, 8, image_size=50, layout=None)
    assert encoder.trunk[0].in_features == 128 * 7 * 7
    assert encoder(torch.rand(3, 1, 50, 50)).semantic_code.shape == (3, 4)
    assert Encoder("small_cnn", 4, 8).trunk[0].in_features == 128 * 4 * 4  # the default: the 4 x 4 pool


def test_resnet18_is_cifar_style():
    net = ResNet18()
    stem = net.layers[0]
    assert (stem.in_channels, stem.out_channels, stem.kernel_size, stem.stride) == (1, 64, (3, 3), (1, 1))
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())
    assert 11.0e6 < sum(p.numel() for p in net.parameters()) < 11.3e6
    assert sum(p.numel() for p in SmallCNN(50).parameters()) < 0.2e6


@pytest.mark.parametrize("alignment", ["none", "moments"])
def test_output_shapes_and_dtypes(alignment):
    encoder = Encoder("small_cnn", latent_dim=6, head_hidden=16, alignment=alignment)
    out = encoder(torch.rand(5, 1, SIZE, SIZE))
    assert isinstance(out, EncoderOutput)
    assert out.semantic_code.shape == (5, 6)
    assert out.rotation.shape == (5,)
    assert out.translation.shape == (5, 2)
    assert all(t.dtype == torch.float32 for t in out)


def test_standardised_codes_have_zero_mean_and_unit_variance_over_the_batch():
    encoder = Encoder("small_cnn", latent_dim=6, head_hidden=16, standardise_code=True).train()
    code = encoder(torch.rand(16, 1, SIZE, SIZE)).semantic_code
    torch.testing.assert_close(code.mean(0), torch.zeros(6), atol=1e-5, rtol=0)
    torch.testing.assert_close(code.var(0, unbiased=False), torch.ones(6), atol=0.05, rtol=0)


def test_rotation_comes_from_a_unit_vector_head():
    encoder = Encoder("small_cnn", latent_dim=4, head_hidden=8, alignment="none")
    with torch.no_grad():
        encoder.rotation_head.bias.copy_(torch.tensor([0.0, -2.0]))  # (cos, sin) direction -y
    assert torch.allclose(encoder(torch.rand(3, 1, SIZE, SIZE)).rotation, torch.full((3,), -math.pi / 2))


def test_moment_alignment_starts_from_the_closed_form_pose():
    """With the residual heads at their identity start, the pose is the moment pose."""
    encoder = Encoder("small_cnn", latent_dim=4, head_hidden=8, alignment="moments").eval()
    images = transform_images(
        asymmetric_blob().expand(3, -1, -1, -1),
        torch.tensor([0.5, 2.0, 4.0]),
        pixels_to_normalised(torch.tensor([[1.0, 2.0], [-2.0, 0.0], [0.0, -1.5]]), SIZE),
    )
    out = encoder(images)
    rotation, translation = moment_pose(images)
    torch.testing.assert_close(out.rotation, rotation)
    torch.testing.assert_close(out.translation, translation)


def test_residual_pose_is_composed_in_the_moment_frame():
    """tau = tau_m + R(theta_m) delta: the residual shift turns with the image."""
    encoder = Encoder("small_cnn", latent_dim=4, head_hidden=8, alignment="moments").eval()
    with torch.no_grad():
        encoder.translation_head.bias.copy_(torch.tensor([0.1, 0.0]))
        encoder.rotation_head.bias.copy_(torch.tensor([0.0, 1.0]))  # +90 degrees
    image = asymmetric_blob()
    out = encoder(image)
    rotation, translation = moment_pose(image)
    torch.testing.assert_close(out.rotation, rotation + math.pi / 2)
    expected = translation + 0.1 * torch.stack([rotation.cos(), rotation.sin()], dim=1)
    torch.testing.assert_close(out.translation, expected)


def test_moment_aligned_codes_are_invariant_to_pose():
    """Re-posing changes the code of the moment-aligned encoder only through resampling."""
    encoder = Encoder("small_cnn", latent_dim=8, head_hidden=32, alignment="moments").eval()
    image = asymmetric_blob()
    posed = transform_images(
        image.expand(4, -1, -1, -1),
        torch.tensor([math.pi / 2, 1.0, 3.0, 5.0]),
        pixels_to_normalised(torch.tensor([[2.0, 0.0], [-1.0, 1.0], [0.0, -2.0], [1.5, 1.5]]), SIZE),
    )
    codes = encoder(torch.cat([image, posed])).semantic_code
    cosine = torch.nn.functional.cosine_similarity(codes[:1], codes[1:], dim=1)
    assert (cosine > 0.98).all(), cosine


def test_compose_poses_matches_applying_one_pose_after_the_other():
    first = (torch.tensor([0.4, 2.0]), torch.tensor([[0.1, -0.05], [0.0, 0.2]]))
    second = (torch.tensor([1.3, -0.7]), torch.tensor([[-0.08, 0.12], [0.3, 0.0]]))
    points = pixel_grid(5)
    # J2 = second(J1), J1 = first(C): a pixel of J2 sees J1 at q1, which sees C at q0.
    through_both = canonical_coordinates(canonical_coordinates(points, *second), *first)
    composed = canonical_coordinates(points, *compose_poses(second, first))
    torch.testing.assert_close(composed, through_both)


def test_unpose_inverts_transform_images():
    image = asymmetric_blob()
    pose = (torch.tensor([math.pi / 2]), pixels_to_normalised(torch.tensor([[2.0, -1.0]]), SIZE))
    back = unpose(transform_images(image, *pose), *pose)  # exact: quarter turn, whole pixels
    inner = (..., slice(4, -4), slice(4, -4))
    torch.testing.assert_close(back[inner], image[inner], atol=1e-5, rtol=0)


def test_alignment_noise_turns_the_frame_the_backbone_sees():
    """Noise of a quarter turn: the backbone sees the closed-form canonical image turned
    back by 90 degrees, and the pose it reports includes the noise."""
    encoder = Encoder("small_cnn", latent_dim=4, head_hidden=8, alignment="moments").eval()
    image = asymmetric_blob()
    seen = []
    encoder.backbone.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    quarter = (torch.tensor([math.pi / 2]), torch.zeros(1, 2))
    plain = encoder(image)
    noisy = encoder(image, quarter)
    torch.testing.assert_close(seen[1], transform_images(seen[0], -quarter[0]), atol=1e-4, rtol=0)
    torch.testing.assert_close(noisy.rotation, plain.rotation + math.pi / 2)
    with pytest.raises(ValueError, match="moments"):
        Encoder("small_cnn", 4, 8, alignment="none")(image, quarter)


def test_the_centred_alignment_turns_the_image_about_its_centre_only():
    """moments_centred: the backbone sees the image turned back by its moment rotation about
    the image centre, never shifted; the pose the encoder reports starts from that rotation."""
    encoder = Encoder("small_cnn", latent_dim=4, head_hidden=8, alignment="moments_centred").eval()
    image = asymmetric_blob()
    seen = []
    encoder.backbone.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    with torch.no_grad():
        encoded = encoder(image)
    rotation, translation = moment_pose(image, about_centre=True)
    assert torch.equal(translation, torch.zeros(1, 2))
    torch.testing.assert_close(seen[0], transform_images(image, -rotation), atol=1e-5, rtol=0)
    torch.testing.assert_close(encoded.rotation, rotation)  # zero-initialised residual heads
    torch.testing.assert_close(encoded.translation, torch.zeros(1, 2))


def test_encode_averages_the_codes_over_turns_of_the_moment_pose():
    """With code_rotations, z is the mean of the codes of the passes with each turn as
    alignment noise, and the pose is the unturned pass's; (0,) is the plain pass."""
    torch.manual_seed(0)
    turns = (-0.3, 0.0, 0.3)
    averaging = Encoder("small_cnn", 4, 8, alignment="moments", code_rotations=turns).eval()
    plain = Encoder("small_cnn", 4, 8, alignment="moments").eval()
    plain.load_state_dict(averaging.state_dict())
    images = torch.cat([asymmetric_blob(), transform_images(asymmetric_blob(), torch.tensor([1.0]))])
    with torch.no_grad():
        averaged = averaging.encode(images)
        passes = [averaging(images, (torch.full((2,), turn), torch.zeros(2, 2))) for turn in turns]
        single = plain.encode(images)
    torch.testing.assert_close(averaged.semantic_code, torch.stack([p.semantic_code for p in passes]).mean(0))
    assert not torch.allclose(averaged.semantic_code, single.semantic_code, atol=1e-4)  # the turns do something
    torch.testing.assert_close(averaged.rotation, single.rotation)
    torch.testing.assert_close(averaged.translation, single.translation)
    torch.testing.assert_close(single.semantic_code, plain(images).semantic_code)
    with pytest.raises(ValueError, match="code_rotations"):
        Encoder("small_cnn", 4, 8, alignment="moments", code_rotations=(0.3,))
    with pytest.raises(ValueError, match="code_rotations"):
        Encoder("small_cnn", 4, 8, alignment="none", code_rotations=(-0.3, 0.0, 0.3))


def test_unknown_names_are_errors():
    with pytest.raises(ValueError, match="backbone"):
        build_backbone("vgg")
    with pytest.raises(ValueError, match="alignment"):
        Encoder("small_cnn", 4, 8, alignment="pca")


@pytest.mark.parametrize("backbone", ["small_cnn", "resnet18"])
def test_channels_last_gives_the_same_outputs_and_gradients(backbone):
    """The same outputs; the same gradients for the small CNN.  ResNet-18's gradients on
    a few tiny images are ill-conditioned (batch norms over a handful of values in its
    last stages): float32 itself is percents away from float64 there, in either format,
    so only its outputs are compared."""
    images = torch.rand(4, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        # Without standardisation: its gradient w.r.t. the code head's bias is zero up to rounding.
        encoder = Encoder(
            backbone, 6, 16, alignment="none", standardise_code=False, channels_last=channels_last
        )
        output = encoder(images)
        loss = sum((tensor * torch.linspace(-1, 1, tensor.numel()).reshape(tensor.shape)).sum() for tensor in output)
        loss.backward()
        results.append((output, [parameter.grad for parameter in encoder.parameters()]))
    (plain, plain_grads), (channels_last, channels_last_grads) = results
    for ours, theirs in zip(channels_last, plain, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    if backbone == "small_cnn":
        for ours, theirs in zip(channels_last_grads, plain_grads, strict=True):
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_recomputed_blocks_give_the_same_values_gradients_and_running_statistics():
    """ResNet-18 with all 8 blocks recomputed in backward: the same features, gradients
    and batch-norm running statistics (updated once per forward pass, not again when a
    block is recomputed) as the plain network."""
    images = torch.rand(4, 1, 10, 10, generator=torch.Generator().manual_seed(0))
    results = []
    for recompute_blocks in (0, 8):
        torch.manual_seed(0)
        net = ResNet18(recompute_blocks)
        features = net(images)
        (features * torch.linspace(-1, 1, features.numel()).reshape(features.shape)).sum().backward()
        results.append((features, [p.grad for p in net.parameters()], [b.clone() for b in net.buffers()]))
    (plain, plain_grads, plain_buffers), (recomputed, recomputed_grads, recomputed_buffers) = results
    torch.testing.assert_close(recomputed, plain, rtol=0, atol=0)
    for ours, theirs in zip(recomputed_grads, plain_grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(recomputed_buffers, plain_buffers, strict=True):
        assert torch.equal(ours, theirs)


def test_recompute_blocks_is_resnet18_only_and_at_most_eight():
    with pytest.raises(ValueError, match="recompute_blocks"):
        build_backbone("small_cnn", recompute_blocks=1)
    with pytest.raises(ValueError, match="recompute_blocks"):
        ResNet18(recompute_blocks=9)


def test_the_small_cnn_takes_its_widths_and_depth():
    """Stages of the given widths, each one stride-2 convolution and depth - 1 stride-1 ones;
    the defaults keep the state of the three-stage network that saved models hold."""
    default = SmallCNN(32, layout=None)
    assert [name for name in default.state_dict() if name.endswith("weight")][:2] == ["layers.0.weight", "layers.1.weight"]
    assert default.out_features == 128 * 4 * 4
    deep = SmallCNN(32, layout=None, channels=(16, 48), depth=2)
    convolutions = [module for module in deep.modules() if isinstance(module, torch.nn.Conv2d)]
    assert [(conv.out_channels, conv.stride[0]) for conv in convolutions] == [(16, 2), (16, 1), (48, 2), (48, 1)]
    assert deep(torch.rand(3, 1, 32, 32)).shape == (3, 48 * 8 * 8) and deep.out_features == 48 * 8 * 8
    with pytest.raises(ValueError, match="IRLINRConfig.backbone_channels"):
        IRLINRConfig(backbone="resnet18", backbone_channels=[16, 32])
    with pytest.raises(ValueError, match="IRLINRConfig.backbone_depth"):
        IRLINRConfig(backbone_depth=0)


def test_the_radius_channel_is_the_distance_from_the_image_centre():
    """With ``radius_channel`` the backbone reads one more channel, each pixel's distance
    from the image centre: the same for every image and pose, so two images differ to the
    backbone only in their own channels, and the code stays invariant to pose."""
    encoder = Encoder("small_cnn", latent_dim=8, head_hidden=32, alignment="moments", radius_channel=True).eval()
    first = encoder.backbone.layers[0]
    assert first.in_channels == 2
    seen = []
    handle = first.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    image = asymmetric_blob()
    posed = transform_images(image.expand(3, -1, -1, -1), torch.tensor([math.pi / 2, 1.0, 4.0]))
    with torch.no_grad():
        codes = encoder(torch.cat([image, posed])).semantic_code
    handle.remove()
    radius = pixel_grid(SIZE).norm(dim=-1).reshape(SIZE, SIZE)
    for channel in seen[0][:, 1]:
        torch.testing.assert_close(channel, radius)
    cosine = torch.nn.functional.cosine_similarity(codes[:1], codes[1:], dim=1)
    assert (cosine > 0.98).all(), cosine
    assert IRLINR(IRLINRConfig(image_size=SIZE, encoder_radius_channel=True)).encoder.backbone.layers[0].in_channels == 2
