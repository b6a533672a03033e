
import numpy as np
import pytest
import torch
from kedro.io.core import DatasetError, Version

from irl_inr.datasets import NumpyDataset, TorchModelDataset


def test_numpy_round_trip_and_byte_stable(tmp_path):
    path = tmp_path / "a.npy"
    array = np.random.default_rng(0).random((4, 5)).astype(np.float32)
    dataset = NumpyDataset(str(path))
    dataset.save(array)
    first = path.read_bytes()
    dataset.save(array)
    assert path.read_bytes() == first
    assert np.array_equal(dataset.load(), array)


def test_numpy_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.npy"
    dataset = NumpyDataset(str(path))
    dataset.save(np.ones(3))

    def broken(handle, data, allow_pickle):
        handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", broken)
    with pytest.raises(DatasetError):
        dataset.save(np.zeros(3))
    monkeypatch.undo()
    assert np.array_equal(dataset.load(), np.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def test_numpy_corrupt_file_names_it(tmp_path):
    path = tmp_path / "bad.npy"
    path.write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="bad.npy"):
        NumpyDataset(str(path)).load()


def test_torch_model_versioned_round_trip(tmp_path):
    path = tmp_path / "model.pt"
    model = {"config": {"latent": 3}, "state_dict": {"w": torch.arange(3.0)}}
    first = TorchModelDataset(str(path), version=Version(None, "2026-01-01T00.00.00.000Z"))
    first.save(model)
    TorchModelDataset(str(path), version=Version(None, "2026-01-02T00.00.00.000Z")).save(
        {"config": {"latent": 4}, "state_dict": {}}
    )
    assert TorchModelDataset(str(path), version=Version(None, None)).load()["config"] == {"latent": 4}
    loaded = first.load()
    assert loaded["config"] == {"latent": 3} and torch.equal(loaded["state_dict"]["w"], torch.arange(3.0))


def test_torch_model_rejects_a_bare_state_dict(tmp_path):
    with pytest.raises(DatasetError, match="config"):
        TorchModelDataset(str(tmp_path / "m.pt")).save({"w": torch.zeros(1)})


def test_torch_model_saved_twice_is_the_same_bytes(tmp_path):
    """The same model saves to identical bytes, so DVC sees an unchanged model as unchanged."""
    model = {"config": {"latent_dim": 2}, "state_dict": {"weight": torch.arange(4.0)}}
    first, second = TorchModelDataset(str(tmp_path / "first.pt")), TorchModelDataset(str(tmp_path / "second.pt"))
    first.save(model)
    second.save(model)
    assert (tmp_path / "first.pt").read_bytes() == (tmp_path / "second.pt").read_bytes()
    assert torch.equal(second.load()["state_dict"]["weight"], torch.arange(4.0))
