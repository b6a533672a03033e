"""TrainingConfig: defaults, validation naming the field, from_dict, fingerprint fields."""

from __future__ import annotations

import pytest

from irl_inr.training import TrainingConfig


def test_defaults_follow_the_paper():
    config = TrainingConfig()
    assert config.betas == (0.5, 0.999)
    assert config.device == "auto"
    assert config.mixed_precision == "auto"
    assert config.compile is False


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("epochs", 1.5),
        ("epochs", True),
        ("batch_size", 0),
        ("learning_rate", 0.0),
        ("learning_rate", -1e-3),
        ("learning_rate", float("nan")),
        ("learning_rate", "1e-4"),
        ("betas", (0.5,)),
        ("betas", (0.5, 1.0)),
        ("betas", (-0.1, 0.9)),
        ("betas", "0.5,0.999"),
        ("weight_decay", -1.0),
        ("seed", -1),
        ("seed", 2**63),
        ("device", "gpu"),
        ("device", "cuda:x"),
        ("mixed_precision", "fp16"),
        ("compile", "yes"),
        ("checkpoint_every", -1),
        ("num_threads", 0),
        ("drop_last", 1),
        ("fused_adam", "yes"),
        ("grad_clip_norm", 0.0),
        ("learning_rate_schedule", "linear"),
        ("weight_average_decay", 0.0),
        ("weight_average_decay", 1.0),
        ("weight_average_decay", float("nan")),
        ("weight_average_decay", "0.99"),
    ],
)
def test_invalid_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=rf"training\.{field} = "):
        TrainingConfig(**{field: value})


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown parameter.*'lr'"):
        TrainingConfig.from_dict({"lr": 1e-3, "epochs": 2})


def test_from_dict_normalises_yaml_values():
    config = TrainingConfig.from_dict({"betas": [0.9, 0.99], "learning_rate": 1, "device": "cuda:1"})
    assert config.betas == (0.9, 0.99)
    assert isinstance(config.learning_rate, float)
    assert TrainingConfig.from_dict(config.to_dict()) == config
    assert TrainingConfig.from_dict(None) == TrainingConfig()


def test_fingerprint_fields_leave_out_execution_settings():
    fields = TrainingConfig().fingerprint_fields()
    assert {"epochs", "batch_size", "learning_rate", "betas", "weight_decay", "seed", "drop_last"} <= set(fields)
    assert not set(fields) & {"device", "mixed_precision", "compile", "checkpoint_every", "num_threads", "fused_adam"}


def test_cosine_schedule_factor_and_fingerprint():
    cosine = TrainingConfig(learning_rate_schedule="cosine")
    assert [cosine.learning_rate_factor(step, 8) for step in (0, 4, 8)] == pytest.approx([1.0, 0.5, 0.0])
    assert TrainingConfig().learning_rate_factor(7, 8) == 1.0
    with pytest.raises(ValueError, match="total_steps >= 1"):
        cosine.learning_rate_factor(0, 0)
    # A constant rate keeps the fingerprint of checkpoints written before the option.
    assert "learning_rate_schedule" not in TrainingConfig().fingerprint_fields()
    assert cosine.fingerprint_fields()["learning_rate_schedule"] == "cosine"


def test_weight_average_fingerprint():
    # No average keeps the fingerprint of checkpoints written before the option.
    assert "weight_average_decay" not in TrainingConfig().fingerprint_fields()
    assert TrainingConfig(weight_average_decay=0.99).fingerprint_fields()["weight_average_decay"] == 0.99
