"""Appearance augmentation of the encoder's views: each distortion does what it says, the
pose stays, nothing is drawn when it is off, and the training step uses it only for the
encoder's input."""

from __future__ import annotations


import pytest
import torch

from irl_inr.geometry import centre_of_mass
from irl_inr.models.augmentation import AppearanceAugmentation, change_dies, distort, draw_appearance
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig


def _blobs(count: int = 6, size: int = 24) -> torch.Tensor:
    """Elongated Gaussian blobs off the centre, (count, 1, size, size)."""
    generator = torch.Generator().manual_seed(3)
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    images = []
    for _ in range(count):
        cx, cy = (torch.rand(2, generator=generator) * 6 + size / 2 - 3).tolist()
        images.append(torch.exp(-((xs - cx) ** 2) / 18 - ((ys - cy) ** 2) / 6))
    return torch.stack(images).unsqueeze(1)


def test_a_disabled_augmentation_returns_the_views_and_draws_nothing():
    config = IRLINRConfig(image_size=16, latent_dim=4, num_frequencies=4, inr_hidden=(8,), hypernetwork_hidden=(8,))
    assert not config.appearance_augmentation().enabled
    model = IRLINR(config)
    views = torch.rand(4, 1, 16, 16)
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    assert model._distorted(views, generator, _whole(4), 2) is views
    assert torch.equal(generator.get_state(), state)


def _whole(count: int):
    from irl_inr.training.collectives import BatchShare

    return BatchShare(0, count, count, 1)


def test_a_zero_draw_is_the_identity():
    images = _blobs()
    augmentation = AppearanceAugmentation(scale=0.3, aspect=0.2, shear=0.3, elastic_pixels=2.0, stroke=0.8)
    draw = draw_appearance(len(images), augmentation, torch.Generator().manual_seed(0))
    zero = draw.rows(torch.zeros_like)
    torch.testing.assert_close(distort(images, augmentation, zero), images, atol=1e-5, rtol=0)


def test_scale_aspect_and_shear_keep_the_centre_of_mass():
    images = _blobs()
    augmentation = AppearanceAugmentation(scale=0.2, aspect=0.15, shear=0.2)
    draw = draw_appearance(len(images), augmentation, torch.Generator().manual_seed(1))
    distorted = distort(images, augmentation, draw)
    assert (distorted - images).abs().max() > 0.1  # the images did change
    pixel = 2 / images.shape[-1]
    assert (centre_of_mass(distorted) - centre_of_mass(images)).abs().max() < 0.25 * pixel


def test_a_larger_scale_draw_shrinks_the_shape():
    """The grid reads the input at c + s (p - c): s > 1 shows less of the shape."""
    images = _blobs()
    augmentation = AppearanceAugmentation(scale=0.3)
    draw = draw_appearance(len(images), augmentation, torch.Generator().manual_seed(2)).rows(torch.zeros_like)
    grown = distort(images, augmentation, draw._replace(scale=-torch.ones(len(images))))
    shrunk = distort(images, augmentation, draw._replace(scale=torch.ones(len(images))))
    assert (shrunk.sum(dim=(1, 2, 3)) < images.sum(dim=(1, 2, 3))).all()
    assert (grown.sum(dim=(1, 2, 3)) > images.sum(dim=(1, 2, 3))).all()


def test_stroke_draws_thicken_and_thin():
    images = _blobs()
    augmentation = AppearanceAugmentation(stroke=1.0)
    zero = draw_appearance(len(images), augmentation, torch.Generator().manual_seed(0)).rows(torch.zeros_like)
    thick = distort(images, augmentation, zero._replace(stroke=torch.ones(len(images))))
    thin = distort(images, augmentation, zero._replace(stroke=-torch.ones(len(images))))
    assert (thick >= images - 1e-6).all() and (thick.sum() > images.sum() * 1.05)
    assert (thin <= images + 1e-6).all() and (thin.sum() < images.sum() * 0.95)


def test_elastic_warp_moves_pixels_by_about_its_size():
    images = _blobs()
    small = AppearanceAugmentation(elastic_pixels=0.5)
    large = AppearanceAugmentation(elastic_pixels=3.0)
    draw = draw_appearance(len(images), large, torch.Generator().manual_seed(4))
    change_small = (distort(images, small, draw) - images).abs().mean()
    change_large = (distort(images, large, draw) - images).abs().mean()
    assert 0 < change_small < change_large


@pytest.mark.parametrize(
    ("field", "value"),
    [("augment_stroke", 1.5), ("augment_stroke", -0.1), ("augment_scale", -0.2), ("augment_elastic_pixels", "2")],
)
def test_bad_augmentation_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"IRLINRConfig.{field}"):
        IRLINRConfig(**{field: value})


def test_the_training_step_encodes_distorted_views_and_reconstructs_the_views():
    """The encoder sees distorted views; the reconstruction loss compares the renders of
    their codes with the undistorted views."""
    config = IRLINRConfig(
        image_size=16, latent_dim=4, encoder_head_hidden=8, num_frequencies=4, inr_hidden=(8,), hypernetwork_hidden=(8,),
        reconstruction_pixels=None, alignment="none", alignment_jitter_degrees=0.0, alignment_jitter_pixels=0.0,
        augment_scale=0.3, augment_shear=0.3, augment_elastic_pixels=2.0, augment_stroke=0.8,
    )  # fmt: skip
    images = _blobs(4, 16)
    torch.manual_seed(0)
    model = IRLINR(config).eval()  # eval: batch norms use their running statistics, so rows are independent
    seen = []
    model.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    loss = model.training_losses(images, torch.Generator().manual_seed(0))["reconstruction"]

    with torch.no_grad():
        views = model._views(images, torch.Generator().manual_seed(0), _whole(4), 2)  # the step's first draws
        assert (seen[0] - views).abs().max() > 0.1  # the encoder did not see the views themselves
        encoded = model.encoder(seen[0])
        rendered = model.render(encoded.semantic_code, encoded.rotation, encoded.translation, 16, 16)
    torch.testing.assert_close(loss, ((rendered - views) ** 2).mean())
    assert abs(loss.item() - ((rendered - seen[0]) ** 2).mean().item()) > 1e-4  # not the distorted views as targets


def _wafers(count: int = 4, size: int = 16) -> torch.Tensor:
    """Die-state maps at the default levels: a disc of good dies (0.25) with a random
    quarter of them defective (1.0), no die (0) outside, (count, 1, size, size)."""
    generator = torch.Generator().manual_seed(5)
    coordinates = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    disc = (coordinates[None, :] ** 2 + coordinates[:, None] ** 2) < 0.9
    defective = torch.rand(count, 1, size, size, generator=generator) < 0.25
    good = torch.full((count, 1, size, size), 0.25)
    return torch.where(disc, torch.where(defective, torch.tensor(1.0), good), torch.tensor(0.0))


def _die_draw(images: torch.Tensor, augmentation: AppearanceAugmentation, seed: int = 0):
    return draw_appearance(len(images), augmentation, torch.Generator().manual_seed(seed), images.shape[-2:])


def test_die_changes_at_full_rate_turn_every_good_die_defective_and_back():
    images = _wafers()
    off_wafer = images == 0
    everything = _die_draw(images, AppearanceAugmentation(random_defects=1.0))
    everything = everything._replace(dies=torch.ones_like(everything.dies), die_noise=torch.zeros_like(everything.die_noise))
    failed = change_dies(images, AppearanceAugmentation(random_defects=1.0), everything)
    assert torch.equal(failed[~off_wafer], torch.ones_like(failed[~off_wafer]))
    passed = change_dies(images, AppearanceAugmentation(defect_dropout=1.0), everything)
    assert torch.equal(passed[~off_wafer], torch.full_like(passed[~off_wafer], 0.25))
    assert torch.equal(failed[off_wafer], images[off_wafer]) and torch.equal(passed[off_wafer], images[off_wafer])


def test_die_changes_touch_about_the_drawn_share_of_each_state():
    images = _wafers(8, 32)
    augmentation = AppearanceAugmentation(random_defects=0.2, defect_dropout=0.6)
    draw = _die_draw(images, augmentation, seed=1)
    draw = draw._replace(dies=torch.ones_like(draw.dies))  # the largest shares: 0.2 and 0.6
    changed = change_dies(images, augmentation, draw)
    good, defective = images == 0.25, images == 1.0
    assert abs((changed[good] == 1.0).float().mean().item() - 0.2) < 0.03
    assert abs((changed[defective] == 0.25).float().mean().item() - 0.6) < 0.05
    assert set(changed.unique().tolist()) <= {0.0, 0.25, 1.0}


def test_a_mirror_draw_mirrors_about_the_centre_of_mass():
    images = _blobs()
    augmentation = AppearanceAugmentation(mirror=True)
    draw = draw_appearance(len(images), augmentation, torch.Generator().manual_seed(0)).rows(torch.zeros_like)
    kept = distort(images, augmentation, draw._replace(mirror=torch.ones(len(images))))
    mirrored = distort(images, augmentation, draw._replace(mirror=-torch.ones(len(images))))
    torch.testing.assert_close(kept, images, atol=1e-5, rtol=0)
    pixel = 2 / images.shape[-1]
    assert (centre_of_mass(mirrored) - centre_of_mass(images)).abs().max() < 0.25 * pixel
    # Dots of mass 3 and 1, 1.5 and 4.5 pixels either side of the centre (the centre of mass):
    # the mirror swaps their sides, which on this grid is exactly torch.flip along x.
    dots = torch.zeros(1, 1, 24, 24)
    dots[0, 0, 12, 10], dots[0, 0, 12, 16] = 3.0, 1.0
    flipped = distort(dots, augmentation, draw.rows(lambda value: value[:1])._replace(mirror=-torch.ones(1)))
    torch.testing.assert_close(flipped, torch.flip(dots, dims=[-1]), atol=1e-5, rtol=0)


def test_options_that_are_off_draw_nothing_new():
    """A draw without the die and mirror options is the stream of numbers it was before they
    existed, so the models trained without them are unchanged."""
    plain = AppearanceAugmentation(scale=0.1, stroke=0.5)
    generator = torch.Generator().manual_seed(7)
    draw = draw_appearance(5, plain, generator, (8, 8))
    assert draw.mirror is None and draw.dies is None and draw.die_noise is None
    replay = torch.Generator().manual_seed(7)
    torch.rand(5, generator=replay), torch.rand(5, generator=replay), torch.rand(5, generator=replay)
    torch.randn(5, 2, 4, 4, generator=replay), torch.rand(5, generator=replay)
    assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=replay))


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"augment_random_defects": 1.5}, "augment_random_defects"), ({"augment_defect_dropout": -0.1}, "augment_defect_dropout"),
     ({"augment_die_levels": (1.0, 0.25)}, "augment_die_levels"), ({"augment_die_levels": (0.25,)}, "augment_die_levels"),
     ({"augment_mirror": True}, "augment_mirror"), ({"augment_mirror": "yes", "contrastive_views": 3}, "augment_mirror")],
)
def test_bad_die_and_mirror_settings_name_the_field(settings, field):
    with pytest.raises(ValueError, match=f"IRLINRConfig.{field}"):
        IRLINRConfig(**settings)


def test_only_the_encoder_only_views_are_mirrored():
    """With contrastive_views 3 the two reconstructed views are drawn and distorted exactly
    as without the mirror; the third view is the one that may be mirrored."""
    common = dict(
        image_size=16, latent_dim=4, encoder_head_hidden=8, num_frequencies=4, inr_hidden=(8,), hypernetwork_hidden=(8,),
        alignment="none", alignment_jitter_degrees=0.0, alignment_jitter_pixels=0.0, augment_random_defects=0.1,
        contrastive_views=3,
    )  # fmt: skip
    images = _wafers(4, 16)
    seen = {}
    for mirror in (False, True):
        torch.manual_seed(0)
        model = IRLINR(IRLINRConfig(**common, augment_mirror=mirror)).eval()
        inputs = []
        model.encoder.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().clone()))
        model.training_losses(images, torch.Generator().manual_seed(0))
        seen[mirror] = inputs[0]
    assert torch.equal(seen[True][:8], seen[False][:8])  # 2 views x 4 images: unchanged
    assert not torch.equal(seen[True][8:], seen[False][8:])  # the third views: some mirrored


def test_every_channel_of_a_colour_image_gets_the_same_distortion():
    """A draw is one per image: the channels of a colour image are moved alike, so a colour
    image whose channels are scaled copies of a grey one distorts into scaled copies of
    the grey one's distortion (also the stroke's dilation and erosion, per channel)."""
    grey = _blobs()
    colour = grey * torch.tensor([1.0, 0.5, 0.25]).view(1, 3, 1, 1)
    augmentation = AppearanceAugmentation(scale=0.3, aspect=0.2, shear=0.3, elastic_pixels=2.0, stroke=0.8)
    draw = draw_appearance(len(grey), augmentation, torch.Generator().manual_seed(0))
    distorted, distorted_grey = distort(colour, augmentation, draw), distort(grey, augmentation, draw)
    assert distorted.shape == colour.shape and (distorted_grey - grey).abs().max() > 0.1
    for channel, scale in enumerate((1.0, 0.5, 0.25)):
        torch.testing.assert_close(distorted[:, channel : channel + 1], scale * distorted_grey, atol=1e-5, rtol=1e-5)
