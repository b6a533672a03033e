"""Saved models turned back into modules: IRL-INR models saved before colour images had a
channel count restore as the one-channel models they are; colour ones as three channels."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.saved_models import restore_irl_inr

TINY = dict(image_size=16, latent_dim=4, num_frequencies=8, inr_hidden=(8,), hypernetwork_hidden=(16,))


def saved(**options) -> dict:
    config = IRLINRConfig(**TINY, **options)
    torch.manual_seed(0)
    return {"config": {"name": "tiny", "model": dataclasses.asdict(config), "optimisation": {}},
            "state_dict": IRLINR(config).state_dict()}


def test_a_model_saved_before_the_channel_count_restores_with_one_channel():
    model = saved()
    older = {**model, "config": {**model["config"], "model": dict(model["config"]["model"])}}
    del older["config"]["model"]["channels"]
    restored, same = restore_irl_inr(older), restore_irl_inr(model)
    assert restored.config.channels == 1 and restored.encoder.backbone.layers[0].in_channels == 1
    images = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(restored.canonical(images), same.canonical(images))


@pytest.mark.parametrize("channels", [1, 3])
def test_a_saved_model_restores_its_channels(channels):
    restored = restore_irl_inr(saved(channels=channels))
    assert restored.config.channels == channels and restored.inr.layer_shapes[-1] == (channels, 8)
    with torch.no_grad():
        assert restored.canonical(torch.rand(2, channels, 16, 16)).shape == (2, channels, 16, 16)
