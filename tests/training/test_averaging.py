"""Polyak averaging of the weights: the moving average itself, and ``fit`` returning it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from irl_inr.training import TrainingConfig, fit, load_checkpoint
from irl_inr.training.averaging import WeightAverage
from irl_inr.training.checkpoint import cpu_state_dict


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def test_average_is_the_exponentially_weighted_mean_of_the_steps():
    model = _model()
    average = WeightAverage(model, decay=0.9)
    visited = []
    for steps in range(1, 30):
        with torch.no_grad():
            model[0].weight.add_(torch.randn_like(model[0].weight))
        visited.append(model[0].weight.detach().clone())
        average.update(model, steps)
        weights = [0.9 ** (steps - s) for s in range(1, steps + 1)]
        expected = sum(w * v for w, v in zip(weights, visited)) / sum(weights)
        torch.testing.assert_close(average.averaged_model_state(model)["0.weight"], expected)
    state = average.averaged_model_state(model)
    # The batch norm's float statistics are averaged; its integer step count is the live one.
    assert "1.running_mean" in average.average and "1.num_batches_tracked" not in average.average
    assert state["1.num_batches_tracked"] is not model[1].num_batches_tracked
    # A copy, never the live tensors.
    state["0.weight"].add_(1.0)
    assert not torch.equal(state["0.weight"], average.average["0.weight"])


def test_first_step_forgets_the_initialisation():
    model = _model()
    average = WeightAverage(model, decay=0.999)
    with torch.no_grad():
        model[0].weight.add_(5.0)
    average.update(model, 1)
    torch.testing.assert_close(average.averaged_model_state(model)["0.weight"], model[0].weight.detach())
    with pytest.raises(ValueError, match="steps counts from 1"):
        average.update(model, 0)


def test_average_of_a_still_model_is_the_model():
    model = _model()
    average = WeightAverage(model, decay=0.99)
    for steps in range(1, 5):
        average.update(model, steps)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(average.averaged_model_state(model)[name], tensor)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 1.5])
def test_bad_decay_is_refused(decay):
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(_model(), decay)


def test_load_refuses_another_model():
    average = WeightAverage(_model(), 0.9)
    with pytest.raises(KeyError, match="missing"):
        average.load_state_dict({"0.weight": torch.zeros(2, 3)})
    wrong = {name: torch.zeros(7) for name in average.average}
    with pytest.raises(ValueError, match="shape"):
        average.load_state_dict(wrong)


def test_fit_returns_the_average_and_resumes_it_exactly(tmp_path, toy, config):
    averaged = TrainingConfig(**{**config.to_dict(), "weight_average_decay": 0.9})
    plain = fit(toy.make_model(), toy.make_data(), config, progress=False)
    reference = fit(toy.make_model(), toy.make_data(), averaged, progress=False)
    # The same training (averaging changes no step), but a different returned model.
    assert reference.history["total"].tolist() == plain.history["total"].tolist()
    assert not torch.equal(reference.state_dict["encoder.weight"], plain.state_dict["encoder.weight"])
    # Stopped twice and resumed: the average is checkpointed and resumed bit for bit.
    path = tmp_path / "run.pt"
    for segment, stop in enumerate((5, 19)):
        # Only the first segment's initialisation (the reference's) matters: later ones load the checkpoint.
        model = toy.make_model(seed=segment * 10)
        fit(model, toy.make_data(), averaged, path, progress=False, stop_after_steps=stop)
    assert "average_state" in load_checkpoint(path)
    resumed = fit(toy.make_model(seed=99), toy.make_data(), averaged, path, progress=False)
    assert resumed.resumed_from_step == 19
    toy.assert_same_weights(resumed.state_dict, reference.state_dict)


def test_fit_average_is_the_moving_average_of_the_steps(tmp_path, toy, config):
    """The returned weights are the recurrence applied to the weights after each step."""
    path = tmp_path / "plain.pt"
    total, decay, visited = config.epochs * 8, 0.8, []  # 64 images in batches of 8
    for steps in range(1, total + 1):
        fit(toy.make_model(), toy.make_data(), config, path, progress=False, stop_after_steps=steps)
        visited.append(load_checkpoint(path)["model_state"])
    weights = [decay ** (total - s) for s in range(1, total + 1)]
    expected = {
        name: sum(w * state[name] for w, state in zip(weights, visited)) / sum(weights)
        for name in visited[0]
        if visited[0][name].is_floating_point()
    }
    averaged = TrainingConfig(**{**config.to_dict(), "weight_average_decay": decay})
    model = toy.make_model()
    result = fit(model, toy.make_data(), averaged, progress=False)
    for name, value in expected.items():
        torch.testing.assert_close(result.state_dict[name], value)
    # The model trained in place ends holding what fit returns.
    toy.assert_same_weights(cpu_state_dict(model), result.state_dict)
