"""Self-labelling's safeguards for a fine-tuned feature extractor: the learning-rate split
and the EMA teacher (labels the weak views, predicts, is checkpointed and resumed)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from irl_inr.models.selflabel import SelfLabelModel
from irl_inr.training import TrainingConfig, fit

SIZE = 8


def images(count: int = 48, seed: int = 0) -> torch.Tensor:
    """Random non-negative images (count, 1, SIZE, SIZE)."""
    return torch.rand(count, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def model(seed: int = 0, **options) -> SelfLabelModel:
    """A small trained feature extractor (with a batch norm, whose statistics the teacher
    copies) and a linear head of 3 clusters."""
    torch.manual_seed(seed)
    features = nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 6), nn.BatchNorm1d(6), nn.Tanh())
    options = {"threshold": 0.0, "rotate": False, **options}
    return SelfLabelModel(features, nn.Linear(6, 3), **options)


def config(**fields) -> TrainingConfig:
    return TrainingConfig(**{"epochs": 1, "batch_size": 16, "learning_rate": 0.05, "device": "cpu", "seed": 3, **fields})


def test_the_features_learn_at_their_share_of_the_heads_learning_rate():
    student = model(features_learning_rate_scale=0.1)
    groups = {len(group["params"]): group["learning_rate_scale"] for group in student.optimiser_groups()}
    assert groups == {2: 1.0, 4: 0.1}  # head: weight and bias; features: linear and batch norm
    # Adam's first step moves every weight by about its learning rate: the head 10x the features.
    before = {name: p.detach().clone() for name, p in student.named_parameters() if not name.startswith("teacher.")}
    fit(student, images(16), config(), progress=False)
    moved = {name: float((p.detach() - before[name]).abs().max()) for name, p in student.named_parameters()
             if name in before}
    assert moved["head.weight"] == pytest.approx(0.05, rel=0.01)
    assert moved["features.1.weight"] == pytest.approx(0.005, rel=0.01)


def test_without_split_or_teacher_the_run_is_the_plain_one():
    """Scale 1 and no teacher: the same weights as one Adam group over every parameter."""
    plain, split = model(), model(features_learning_rate_scale=1.0, ema_decay=0.0)
    assert split.teacher is None
    fit(plain, images(), config(), progress=False)
    fit(split, images(), config(), progress=False)
    for (name, a), b in zip(plain.state_dict().items(), split.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_the_teacher_is_the_moving_average_of_the_student():
    student = model(ema_decay=0.75)
    start = {name: p.detach().clone() for name, p in student.teacher.named_parameters()}
    assert student.teacher.training is False and not any(p.requires_grad for p in student.teacher.parameters())
    fit(student, images(16), config(), progress=False)  # one step
    assert student.teacher.training is False
    for name, value in student.teacher.named_parameters():
        part, rest = name.split(".", 1)
        own = dict(getattr(student, part).named_parameters())[rest].detach()
        assert not torch.equal(own, start[name])  # the student moved ...
        torch.testing.assert_close(value, 0.75 * start[name] + 0.25 * own)  # ... and the teacher a quarter of it
    # Batch-norm statistics are the student's, copied.
    torch.testing.assert_close(student.teacher["features"][2].running_mean, student.features[2].running_mean)


def test_the_teacher_predicts_and_is_what_the_saved_weights_hold():
    student = model(ema_decay=0.5)
    fit(student, images(), config(epochs=2), progress=False)
    data = images(10, seed=5)
    with torch.no_grad():
        student.teacher.eval()
        expected = torch.softmax(student.teacher["head"](student.teacher["features"](data)), dim=-1)
        own = torch.softmax(student.head(student.features.eval()(data)), dim=-1)
    predicted = student.predict(data)
    torch.testing.assert_close(predicted, expected)
    assert not torch.allclose(predicted, own)  # the student itself differs

    saved = student.prediction_state_dict()
    plain = model()
    assert set(saved) == set(plain.state_dict())  # the student's names, no teacher.* keys
    plain.load_state_dict(saved)
    torch.testing.assert_close(plain.predict(data), expected)


def test_the_teacher_is_checkpointed_and_resumed_exactly(tmp_path):
    whole = model(ema_decay=0.9, features_learning_rate_scale=0.2)
    fit(whole, images(), config(epochs=2), progress=False)
    resumed = model(ema_decay=0.9, features_learning_rate_scale=0.2)
    path = tmp_path / "selflabel.pt"
    fit(resumed, images(), config(epochs=2), checkpoint_path=path, progress=False, stop_after_steps=4)
    again = model(ema_decay=0.9, features_learning_rate_scale=0.2)
    fit(again, images(), config(epochs=2), checkpoint_path=path, progress=False)
    for (name, a), b in zip(whole.state_dict().items(), again.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_a_frozen_encoders_teacher_keeps_its_features():
    student = model(ema_decay=0.5, train_features=False)
    assert [group["learning_rate_scale"] for group in student.optimiser_groups() if group["params"]
            and group["params"][0].requires_grad] == [1.0]
    features = {name: p.detach().clone() for name, p in student.teacher["features"].named_parameters()}
    fit(student, images(), config(), progress=False)
    for name, value in student.teacher["features"].named_parameters():
        torch.testing.assert_close(value, features[name], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ema_decay": 1.0}, "ema_decay must be < 1"),
        ({"ema_decay": -0.1}, "ema_decay"),
        ({"features_learning_rate_scale": 0.0}, "features_learning_rate_scale must be > 0, got 0.0"),
        ({"features_learning_rate_scale": float("nan")}, "features_learning_rate_scale"),
    ],
)
def test_bad_safeguard_settings_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        model(**options)
