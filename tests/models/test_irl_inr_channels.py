"""IRL-INR on images of C channels (C = 3 for colour): the channel count in the config,
the shapes of every output, a training step, and a colour model that copies a grey one
channel by channel computing the grey one's losses."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.saved_models import restore_irl_inr
from irl_inr.training import TrainingConfig, fit
from tests.models.test_irl_inr import SIZE, TINY, strokes, tiny_model

FAST_AUGMENTATION = dict(augment_scale=0.15, augment_aspect=0.1, augment_shear=0.2, augment_elastic_pixels=1.5,
                         augment_stroke=0.5)


def colour_strokes(count: int, seed: int = 0) -> torch.Tensor:
    """(count, 3, SIZE, SIZE): :func:`strokes` in two tints, one per kind of stroke."""
    tints = torch.tensor([[1.0, 0.6, 0.2], [0.3, 0.5, 1.0]])[torch.arange(count) % 2]  # (count, 3)
    return strokes(count, seed) * tints[:, :, None, None]


def colour_twin(grey: IRLINR) -> IRLINR:
    """A three-channel model that computes, on images of three equal channels, what ``grey``
    computes on one: its first convolution holds the grey one's weights split over the
    channels, and its hypernetwork emits the grey INR's last layer once per channel."""
    colour = IRLINR(dataclasses.replace(grey.config, channels=3))
    state = grey.state_dict()
    first = "encoder.backbone.layers.0.weight"
    state[first] = state[first].repeat(1, 3, 1, 1) / 3
    _, hidden = grey.inr.layer_shapes[-1]
    earlier = sum(grey.hypernetwork.sizes[:-1])
    for name in ("hypernetwork.head.weight", "hypernetwork.head.bias", "hypernetwork.scale"):
        rest, weight, bias = state[name].split([earlier, hidden, 1])  # the last layer: weight then bias rows
        state[name] = torch.cat([rest, *[weight] * 3, *[bias] * 3])
    colour.load_state_dict(state)
    return colour


def test_the_channel_count_is_a_positive_integer_and_enters_the_identity_only_past_one():
    for value in (0, 1.5, True):
        with pytest.raises(ValueError, match="channels"):
            IRLINRConfig(channels=value)
    assert IRLINRConfig(channels=3).inr_layer_shapes()[-1] == (3, 64)
    assert "channels" not in IRLINRConfig().training_fields()  # grey checkpoints keep their names
    assert IRLINRConfig(channels=3).training_fields()["channels"] == 3
    assert IRLINRConfig.from_dict({"image_size": SIZE}).channels == 1


def test_a_colour_model_encodes_renders_and_decodes_three_channels():
    model = tiny_model(channels=3).eval()
    images = colour_strokes(3)
    with torch.no_grad():
        encoded = model.encode(images)
        assert encoded.semantic_code.shape == (3, 8)
        assert model.render(*encoded, 20, 24).shape == (3, 3, 20, 24)
        canonical = model.canonical(images)
        assert canonical.shape == (3, 3, SIZE, SIZE) and 0 <= canonical.min() and canonical.max() <= 1
        torch.testing.assert_close(model.decode_canonical(encoded.semantic_code), canonical.flatten(1))


@pytest.mark.parametrize("reconstruction_pixels", [100, None], ids=["pixel_subset", "all_pixels"])
def test_a_colour_twin_gives_the_grey_models_losses_on_grey_images_in_three_channels(reconstruction_pixels):
    """The reconstruction is averaged over the channels, the poses read the channel mean and
    the appearance augmentation moves every channel alike, so every term is the grey one."""
    grey = tiny_model(reconstruction_pixels=reconstruction_pixels, **FAST_AUGMENTATION)
    colour = colour_twin(grey)
    images = strokes(8)
    grey_losses = grey.training_losses(images, torch.Generator().manual_seed(2))
    colour_losses = colour.training_losses(images.expand(-1, 3, -1, -1), torch.Generator().manual_seed(2))
    assert colour_losses.keys() == grey_losses.keys()
    for name, value in grey_losses.items():
        torch.testing.assert_close(colour_losses[name], value, rtol=1e-4, atol=1e-6, msg=name)


def test_the_colour_reconstruction_term_weighs_every_channel_alike():
    """A channel that the twin renders wrong (its last INR bias pushed up: that channel is
    1 everywhere) raises the reconstruction term by the same amount whichever it is."""
    images = strokes(8).expand(-1, 3, -1, -1)

    def reconstruction(wrong_channel: int | None) -> torch.Tensor:
        colour = colour_twin(tiny_model())
        if wrong_channel is not None:
            with torch.no_grad():
                colour.hypernetwork.head.bias[wrong_channel - 3] += 50.0  # the last 3 rows: the channels' biases
        return colour.training_losses(images, torch.Generator().manual_seed(2))["reconstruction"].detach()

    exact = reconstruction(None)
    raised = torch.stack([reconstruction(channel) - exact for channel in range(3)])
    assert (raised > 0.1).all()
    torch.testing.assert_close(raised, raised[:1].expand(3), rtol=1e-4, atol=1e-6)


def test_a_colour_model_trains_with_the_projects_loop_and_restores():
    torch.manual_seed(0)
    model = IRLINR(IRLINRConfig(**TINY, channels=3, **FAST_AUGMENTATION))
    before = {name: value.clone() for name, value in model.state_dict().items()}
    config = TrainingConfig(epochs=1, batch_size=8, learning_rate=1e-3, seed=0, device="cpu", num_threads=1)
    result = fit(model, colour_strokes(16), config, progress=False)
    assert len(result.history) == 1 and result.history.drop(columns=["seconds"]).notna().all().all()
    assert not torch.equal(result.state_dict["encoder.backbone.layers.0.weight"],
                           before["encoder.backbone.layers.0.weight"])
    saved = {"config": {"model": dataclasses.asdict(model.config)}, "state_dict": result.state_dict}
    restored = restore_irl_inr(saved)
    assert restored.config.channels == 3 and restored.encoder.backbone.layers[0].in_channels == 3
    with torch.no_grad():
        assert torch.isfinite(restored.canonical(colour_strokes(2))).all()


def test_images_of_another_channel_count_are_refused_in_training():
    with pytest.raises(ValueError, match=r"takes images \(B, 3, H, W\)"):
        tiny_model(channels=3).training_losses(strokes(4), torch.Generator().manual_seed(0))
