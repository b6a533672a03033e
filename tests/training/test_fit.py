"""fit(): learning, determinism, history, failure on NaN/inf, input checks."""

from __future__ import annotations

import io
import logging
import math
import sys

import pandas as pd
import pytest
import torch

from irl_inr.training import NonFiniteLossError, TrainingConfig, fit, load_checkpoint


def _with(config: TrainingConfig, **changes) -> TrainingConfig:
    return TrainingConfig.from_dict({**config.to_dict(), **changes})


@pytest.mark.learned
def test_loss_decreases(toy, config):
    result = fit(toy.make_model(), toy.make_data(), _with(config, epochs=6), progress=False)
    history = result.history
    assert len(history) == 6
    assert history["total"].iloc[-1] < 0.5 * history["total"].iloc[0]
    assert history["recon"].is_monotonic_decreasing


def test_same_seed_same_weights_other_seed_other_weights(toy, config):
    first = fit(toy.make_model(), toy.make_data(), config, progress=False)
    second = fit(toy.make_model(), toy.make_data(), config, progress=False)
    toy.assert_same_weights(first.state_dict, second.state_dict)
    other = fit(toy.make_model(), toy.make_data(), _with(config, seed=124), progress=False)
    assert not torch.equal(first.state_dict["encoder.weight"], other.state_dict["encoder.weight"])


def test_fused_adam_trains_to_the_same_weights_up_to_rounding(toy, config):
    plain = fit(toy.make_model(), toy.make_data(), config, progress=False)
    fused = fit(toy.make_model(), toy.make_data(), _with(config, fused_adam=True), progress=False)
    for name, weight in plain.state_dict.items():
        torch.testing.assert_close(fused.state_dict[name], weight, rtol=1e-5, atol=1e-6)


def test_history_has_one_row_per_epoch(toy, config):
    result = fit(toy.make_model(), toy.make_data(), config, progress=False)
    history = result.history
    assert list(history.columns) == [
        "epoch", "step", "total", "recon", "latent_l2", "grad_norm", "seconds", "learning_rate"
    ]
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert history["step"].tolist() == [8, 16, 24, 32]
    assert (history["learning_rate"] == 0.01).all()
    assert (history["seconds"] >= 0).all() and (history["grad_norm"] > 0).all()
    pd.testing.assert_series_equal(history["recon"] + history["latent_l2"], history["total"], check_names=False)
    assert (result.step, result.epochs_completed, result.completed) == (32, 4, True)
    assert result.resumed_from_step is None and result.device == "cpu"


def test_cosine_schedule_anneals_every_group_and_resumes_exactly(tmp_path, toy, config):
    cosine = _with(config, learning_rate_schedule="cosine")  # 4 epochs x 8 steps
    result = fit(toy.make_model(), toy.make_data(), cosine, progress=False)
    # The history logs the rate of each epoch's last step, 8e - 1 of 32.
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * (8 * epoch - 1) / 32)) for epoch in (1, 2, 3, 4)]
    assert result.history["learning_rate"].tolist() == pytest.approx(expected)
    constant = fit(toy.make_model(), toy.make_data(), config, progress=False)
    assert not torch.equal(result.state_dict["encoder.weight"], constant.state_dict["encoder.weight"])
    path = tmp_path / "run.pt"
    fit(toy.make_model(), toy.make_data(), cosine, path, progress=False, stop_after_steps=13)
    resumed = fit(toy.make_model(seed=5), toy.make_data(), cosine, path, progress=False)
    toy.assert_same_weights(resumed.state_dict, result.state_dict)
    # A learning-rate split keeps its ratio: the first group, at a tenth, logs a tenth.
    split = toy.make_model()
    split.optimiser_groups = lambda: [
        {"params": list(split.decoder.parameters()), "learning_rate_scale": 0.1},
        {"params": list(split.encoder.parameters()), "learning_rate_scale": 1.0},
    ]
    logged = fit(split, toy.make_data(), cosine, progress=False).history["learning_rate"]
    assert logged.tolist() == pytest.approx([0.1 * rate for rate in expected])


def test_partial_last_batch_and_too_few_samples(toy, config):
    data = toy.make_data(count=60)
    kept = fit(toy.make_model(), data, _with(config, epochs=1, drop_last=False), progress=False)
    assert kept.step == 8  # 7 full batches + 4 samples
    dropped = fit(toy.make_model(), data, _with(config, epochs=1), progress=False)
    assert dropped.step == 7
    with pytest.raises(ValueError, match="batch_size = 128 with drop_last=True leaves no batch for 60"):
        fit(toy.make_model(), data, _with(config, batch_size=128), progress=False)


def test_result_is_a_detached_cpu_copy(toy, config):
    model = toy.make_model()
    result = fit(model, toy.make_data(), _with(config, epochs=1), progress=False)
    snapshot = result.state_dict["encoder.weight"].clone()
    with torch.no_grad():
        model.encoder.weight.add_(1.0)
    assert torch.equal(result.state_dict["encoder.weight"], snapshot)
    assert not result.state_dict["encoder.weight"].requires_grad


def test_callers_rng_threads_and_mode_are_restored(toy, config):
    model = toy.make_model().eval()
    torch.manual_seed(42)
    rng_state = torch.get_rng_state()
    threads = torch.get_num_threads()
    fit(model, toy.make_data(), _with(config, epochs=1, num_threads=1), progress=False)
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads
    assert not model.training


def test_nan_loss_names_the_term_and_keeps_the_last_good_checkpoint(tmp_path, toy, config):
    path = tmp_path / "run.pt"
    model = toy.make_model()
    model.nan_at_call = 7  # step 8, the last batch of epoch 1; checkpoints at steps 3 and 6
    with pytest.raises(NonFiniteLossError) as caught:
        fit(model, toy.make_data(), config, path, progress=False)
    error = caught.value
    assert (error.term, error.step, error.epoch, error.checkpoint_step) == ("recon", 8, 1, 6)
    assert "loss term 'recon' is nan at step 8 (epoch 1/4" in str(error)
    assert "last good checkpoint (step 6)" in str(error)
    assert isinstance(error, FloatingPointError)

    saved = load_checkpoint(path)
    assert saved["step"] == 6
    reference = fit(toy.make_model(), toy.make_data(), config, tmp_path / "ref.pt", progress=False, stop_after_steps=6)
    toy.assert_same_weights(saved["model_state"], reference.state_dict)
    # The failing step was not taken: the model holds the weights after step 7.
    after_7 = fit(toy.make_model(), toy.make_data(), config, progress=False, stop_after_steps=7)
    toy.assert_same_weights({k: v.detach() for k, v in model.state_dict().items()}, after_7.state_dict)


class _InfiniteGradient(torch.nn.Module):
    """Finite losses, but the gradient of sqrt at 0 is infinite at the third step."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(16))
        self.calls = 0

    def training_losses(self, batch, generator):
        self.calls += 1
        fit_term = (batch.flatten(1) * self.weight).pow(2).mean()
        offset = self.weight - (self.weight.detach() if self.calls == 3 else 0)
        return {"total": fit_term + offset.abs().sum().sqrt(), "fit": fit_term}


def test_non_finite_gradient_is_caught(toy, config):
    with pytest.raises(NonFiniteLossError, match="gradient norm is nan at step 3") as caught:
        fit(_InfiniteGradient(), toy.make_data(), config, progress=False)
    assert caught.value.term == "grad_norm"


class _BadLosses(torch.nn.Module):
    def __init__(self, losses):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(()))
        self.losses = losses

    def training_losses(self, batch, generator):
        return {name: make(self.weight) for name, make in self.losses.items()}


@pytest.mark.parametrize(
    ("losses", "message"),
    [
        ({"recon": lambda w: w * 2}, "must return a 'total' loss"),
        ({"total": lambda w: w * torch.ones(3)}, "loss 'total' must be a scalar tensor"),
        ({"total": lambda w: w, "step": lambda w: w}, "loss name 'step' is not allowed"),
    ],
)
def test_malformed_losses_are_explained(toy, config, losses, message):
    with pytest.raises(ValueError, match=message):
        fit(_BadLosses(losses), toy.make_data(), config, progress=False)


def test_bad_inputs(toy, config):
    with pytest.raises(ValueError, match="floating-point"):
        fit(toy.make_model(), torch.zeros(8, 1, 4, 4, dtype=torch.int64), config, progress=False)
    with pytest.raises(ValueError, match="at least one sample"):
        fit(toy.make_model(), torch.zeros(0, 1, 4, 4), config, progress=False)
    with pytest.raises(TypeError, match="training_losses"):
        fit(torch.nn.Linear(2, 2), toy.make_data(), config, progress=False)
    with pytest.raises(TypeError, match="TrainingConfig"):
        fit(toy.make_model(), toy.make_data(), config.to_dict(), progress=False)
    with pytest.raises(ValueError, match="stop_after_steps"):
        fit(toy.make_model(), toy.make_data(), config, progress=False, stop_after_steps=0)


def test_gradient_clipping_changes_the_run(toy, config):
    plain = fit(toy.make_model(), toy.make_data(), _with(config, epochs=1), progress=False)
    clipped = fit(toy.make_model(), toy.make_data(), _with(config, epochs=1, grad_clip_norm=1e-3), progress=False)
    assert not torch.equal(plain.state_dict["decoder.weight"], clipped.state_dict["decoder.weight"])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_and_a_log_line_per_epoch(toy, config, monkeypatch, caplog):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with caplog.at_level(logging.INFO, logger="irl_inr.training"):
        fit(toy.make_model(), toy.make_data(), _with(config, epochs=2), progress=True)
    assert "epoch 2/2" in terminal.getvalue() and "\r" in terminal.getvalue()
    assert "epoch 1/2 (step 8" in caplog.text and "recon=" in caplog.text


def test_no_bar_where_stderr_is_a_file_only_a_line_per_epoch(toy, config, capsys, caplog):
    """``make run > run.log 2>&1``: no redraws piling up in the file, one line per epoch."""
    with caplog.at_level(logging.INFO, logger="irl_inr.training"):
        fit(toy.make_model(), toy.make_data(), _with(config, epochs=3), progress=True)
    assert capsys.readouterr().err == ""
    epochs = [record.getMessage() for record in caplog.records if record.getMessage().startswith("epoch ")]
    assert [line.split(" (")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]


def test_declared_optimiser_groups_are_checked():
    from irl_inr.training.loop import optimiser_groups

    class Declared(torch.nn.Module):
        def __init__(self, groups):
            super().__init__()
            self.a, self.b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
            self.groups = groups

        def optimiser_groups(self):
            return self.groups(self)

    built = optimiser_groups(Declared(lambda m: [{"params": list(m.a.parameters()), "learning_rate_scale": 0.5},
                                                 {"params": list(m.b.parameters())}]), 0.1)
    assert [group["lr"] for group in built] == pytest.approx([0.05, 0.1])
    with pytest.raises(ValueError, match="Declared.optimiser_groups: a parameter is in more than one group"):
        optimiser_groups(Declared(lambda m: [{"params": list(m.a.parameters())}, {"params": [m.a.weight]}]), 0.1)
    with pytest.raises(ValueError, match="learning_rate_scale must be a positive number, got -1"):
        optimiser_groups(Declared(lambda m: [{"params": list(m.a.parameters()), "learning_rate_scale": -1}]), 0.1)
    frozen = Declared(lambda m: [{"params": list(m.a.parameters())}])
    frozen.a.requires_grad_(False)
    with pytest.raises(ValueError, match="Declared has no trainable parameters"):
        optimiser_groups(frozen, 0.1)
