"""The low-rank hypernetwork (instance pattern composers): shapes, U = 0 is the shared
INR, config validation, and it trains inside IRL-INR."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from irl_inr.models.hypernetwork import LowRankHyperNetwork
from irl_inr.models.inr import INR
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.saved_models import restore_irl_inr
from tests.models.test_irl_inr import TINY, strokes, tiny_model

SIZE = 12


def low_rank(rank: int = 3, modulated_layer: int = 1) -> tuple[INR, LowRankHyperNetwork]:
    torch.manual_seed(0)
    inr = INR(num_frequencies=8, hidden=(16, 16), fourier_scale=1.0)
    return inr, LowRankHyperNetwork(6, (24,), inr.layer_shapes, rank, modulated_layer, modulation_scale=1.0)


def test_weights_have_the_inr_layer_shapes_and_only_the_modulated_layer_varies():
    inr, hypernetwork = low_rank(rank=3, modulated_layer=1)
    weights = hypernetwork(torch.randn(5, 6))
    assert [tuple(w.shape) for w, _ in weights] == [(5, out, inp) for out, inp in inr.layer_shapes]
    assert [tuple(b.shape) for _, b in weights] == [(5, out) for out, _ in inr.layer_shapes]
    assert hypernetwork.composers(torch.randn(5, 6)).shape == (5, 16, 3)
    for index, (weight, bias) in enumerate(weights):
        assert torch.equal(bias, bias[:1].expand_as(bias))
        same_for_all = torch.equal(weight, weight[:1].expand_as(weight))
        assert same_for_all == (index != 1), index
    difference = weights[1][0] - hypernetwork.shared_weights[1]  # U_i V^T, (5, 16, 16)
    assert torch.linalg.matrix_rank(difference).max() <= 3


def test_zero_composers_give_exactly_the_shared_inr():
    inr, hypernetwork = low_rank()
    weights = hypernetwork.compose(torch.zeros(4, 16, 3))
    shared = [
        (weight.expand(4, -1, -1), bias.expand(4, -1))
        for weight, bias in zip(hypernetwork.shared_weights, hypernetwork.shared_biases)
    ]
    for (weight, bias), (shared_weight, shared_bias) in zip(weights, shared):
        assert torch.equal(weight, shared_weight) and torch.equal(bias, shared_bias)
    rotation, translation = torch.rand(4) * 6, torch.rand(4, 2) * 0.2
    assert torch.equal(
        inr.render(weights, rotation, translation, SIZE, SIZE), inr.render(shared, rotation, translation, SIZE, SIZE)
    )


def test_a_layer_outside_the_inr_is_an_error():
    inr = INR(num_frequencies=8, hidden=(16,))
    with pytest.raises(ValueError, match="modulated_layer"):
        LowRankHyperNetwork(6, (24,), inr.layer_shapes, rank=2, modulated_layer=2)


@pytest.mark.parametrize(
    "field, value",
    [
        ("hypernetwork_kind", "lora"),
        ("hypernetwork_rank", 0),
        ("hypernetwork_rank", 33),  # the modulated 32 x 32 layer has rank at most 32
        ("hypernetwork_rank", 2.0),
        ("hypernetwork_modulated_layer", 3),  # TINY's INR has layers 0, 1, 2
        ("hypernetwork_modulated_layer", -1),
    ],
)
def test_bad_low_rank_settings_are_errors_that_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        IRLINRConfig(**{**TINY, "hypernetwork_kind": "low_rank", field: value})


def test_the_default_stays_the_full_hypernetwork():
    assert IRLINRConfig().hypernetwork_kind == "full"
    assert IRLINRConfig.paper().hypernetwork_kind == "full"
    model = tiny_model()
    assert type(model.hypernetwork).__name__ == "HyperNetwork"


def test_low_rank_irl_inr_has_fewer_parameters_and_gradients_reach_u_v_and_shared_weights():
    full, compact = tiny_model(), tiny_model(hypernetwork_kind="low_rank", hypernetwork_rank=4)
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert count(compact.hypernetwork) < count(full.hypernetwork) / 4
    compact.training_losses(strokes(8), torch.Generator().manual_seed(0))["total"].backward()
    for name, parameter in compact.hypernetwork.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_a_low_rank_irl_inr_model_round_trips_through_its_config():
    model = tiny_model(hypernetwork_kind="low_rank", hypernetwork_rank=2, hypernetwork_modulated_layer=0)
    irl_inr_model = {"config": {"model": dataclasses.asdict(model.config)}, "state_dict": model.state_dict()}
    loaded = restore_irl_inr(irl_inr_model)
    code = torch.randn(3, 8)
    zeros = torch.zeros(3), torch.zeros(3, 2)
    assert torch.equal(loaded.render(code, *zeros, SIZE, SIZE), model.eval().render(code, *zeros, SIZE, SIZE))
    assert isinstance(loaded, IRLINR)


def test_rank_and_layer_only_constrain_the_low_rank_kind():
    IRLINRConfig(**{**TINY, "inr_hidden": (8,), "hypernetwork_rank": 64, "hypernetwork_modulated_layer": 5})
    with pytest.raises(ValueError, match="hypernetwork_rank"):
        IRLINRConfig(**{**TINY, "hypernetwork_rank": "8"})
