"""Atomic checkpoint writes, safe loads, and refusal of checkpoints from other runs."""

from __future__ import annotations

import io

import pytest
import torch

from irl_inr.training import CheckpointError, CheckpointMismatchError, fit, load_checkpoint, save_checkpoint
from irl_inr.training import checkpoint as checkpoint_module


_real_save = torch.save


def _leftovers(directory):
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".tmp"))


def _failing_save(payload, handle, *args, **kwargs):
    """Write half a checkpoint, then fail as a full disk would."""
    buffer = io.BytesIO()
    _real_save(payload, buffer)
    handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    raise OSError(28, "No space left on device")


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    save_checkpoint({"value": torch.arange(4)}, path)
    before = path.read_bytes()
    monkeypatch.setattr(checkpoint_module.torch, "save", _failing_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint({"value": torch.arange(8)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert torch.equal(torch.load(path, weights_only=True)["value"], torch.arange(4))
    assert _leftovers(tmp_path) == []


def test_stale_temporary_file_does_not_block_a_write(tmp_path):
    import os

    path = tmp_path / "run.pt"
    (tmp_path / f".run.pt.{os.getpid()}.tmp").write_bytes(b"left by a killed process")
    save_checkpoint({"value": torch.ones(2)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["value"], torch.ones(2))
    assert _leftovers(tmp_path) == []


def test_failed_write_during_fit_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, toy, config):
    path = tmp_path / "run.pt"
    fit(toy.make_model(), toy.make_data(), config, path, progress=False, stop_after_steps=5)
    good = load_checkpoint(path)
    assert good["step"] == 5
    monkeypatch.setattr(checkpoint_module.torch, "save", _failing_save)
    with pytest.raises(OSError, match="No space left"):
        fit(toy.make_model(), toy.make_data(), config, path, progress=False)  # next write: step 6
    monkeypatch.undo()
    kept = load_checkpoint(path)
    assert kept["step"] == 5
    toy.assert_same_weights(kept["model_state"], good["model_state"])
    assert _leftovers(tmp_path) == []
    # ...and training carries on from it.
    result = fit(toy.make_model(), toy.make_data(), config, path, progress=False)
    assert result.resumed_from_step == 5 and result.completed


def test_unreadable_or_foreign_files_are_errors(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="could not read"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        load_checkpoint(foreign)


def test_a_truncated_checkpoint_is_named_with_what_to_do_and_kept(tmp_path, toy, config):
    path = tmp_path / "run.pt"
    fit(toy.make_model(), toy.make_data(), config, path, progress=False)
    truncated = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(truncated)
    with pytest.raises(CheckpointError) as error:
        fit(toy.make_model(), toy.make_data(), config, path, progress=False)
    message = str(error.value)
    assert message.startswith(f"could not read checkpoint {path}: ")
    assert message.endswith(
        f"The file is truncated or corrupt: delete {path} (or set the stage's checkpoint_dir parameter to another "
        "folder) to start over"
    )
    assert path.read_bytes() == truncated


def test_garbage_at_the_checkpoint_path_is_not_overwritten(tmp_path, toy, config):
    path = tmp_path / "run.pt"
    path.write_bytes(b"something else")
    with pytest.raises(CheckpointError):
        fit(toy.make_model(), toy.make_data(), config, path, progress=False)
    assert path.read_bytes() == b"something else"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"learning_rate": 1e-3}, r"training\.learning_rate: checkpoint 0\.01, now 0\.001"),
        ({"seed": 7}, r"training\.seed"),
        ({"batch_size": 16}, r"training\.batch_size"),
        ({"epochs": 5}, r"training\.epochs"),
        ({"betas": (0.9, 0.999)}, r"training\.betas"),
        ({"learning_rate_schedule": "cosine"}, r"training\.learning_rate_schedule"),
        ({"weight_average_decay": 0.9}, r"training\.weight_average_decay: checkpoint None, now 0\.9"),
    ],
)
def test_checkpoint_from_another_config_is_refused(tmp_path, toy, config, change, message):
    path = tmp_path / "run.pt"
    fit(toy.make_model(), toy.make_data(), config, path, progress=False, stop_after_steps=4)
    before = path.read_bytes()
    other = type(config).from_dict({**config.to_dict(), **change})
    with pytest.raises(CheckpointMismatchError, match=message):
        fit(toy.make_model(), toy.make_data(), other, path, progress=False)
    assert path.read_bytes() == before


def test_checkpoint_from_another_model_or_data_is_refused(tmp_path, toy, config):
    path = tmp_path / "run.pt"
    fit(toy.make_model(), toy.make_data(), config, path, progress=False, stop_after_steps=4)

    class OtherModel(toy.ToyAutoencoder):
        pass

    with pytest.raises(CheckpointMismatchError, match="model class"):
        fit(OtherModel(), toy.make_data(), config, path, progress=False)
    with pytest.raises(CheckpointMismatchError, match="model parameter names/shapes"):
        fit(toy.make_model(latent=5), toy.make_data(), config, path, progress=False)
    with pytest.raises(CheckpointMismatchError, match="data shape"):
        fit(toy.make_model(), toy.make_data(count=72), config, path, progress=False)
    with pytest.raises(CheckpointMismatchError, match="data content"):
        fit(toy.make_model(), toy.make_data(seed=1), config, path, progress=False)
    assert load_checkpoint(path)["step"] == 4


def test_execution_settings_may_change_on_resume(tmp_path, toy, config):
    path = tmp_path / "run.pt"
    fit(toy.make_model(), toy.make_data(), config, path, progress=False, stop_after_steps=4)
    changed = type(config).from_dict(
        {**config.to_dict(), "checkpoint_every": 0, "num_threads": 2, "mixed_precision": "none", "compile": True}
    )
    result = fit(toy.make_model(), toy.make_data(), changed, path, progress=False)
    assert result.resumed_from_step == 4 and result.completed


def test_checkpoint_is_plain_data(tmp_path, toy, config):
    path = tmp_path / "run.pt"
    fit(toy.make_model(), toy.make_data(), config, path, progress=False, stop_after_steps=11)
    checkpoint = torch.load(path, weights_only=True)  # no pickled classes inside
    assert (checkpoint["step"], checkpoint["epoch"], checkpoint["batch_in_epoch"]) == (11, 1, 3)
    assert [row["epoch"] for row in checkpoint["history"]] == [1]
    assert set(checkpoint["epoch_sums"]) == {"total", "recon", "latent_l2", "grad_norm"}
    assert all(tensor.device.type == "cpu" for tensor in checkpoint["model_state"].values())
    assert checkpoint["identity"]["model_class"] == "ToyAutoencoder"
