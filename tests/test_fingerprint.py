"""Fingerprints of settings and tensors, and the checkpoint file they name."""

from pathlib import Path

import numpy as np
import torch

from irl_inr.fingerprint import digest
from irl_inr.training import checkpoint_file


def test_digest_is_stable_and_tells_values_shapes_and_types_apart():
    settings = {"b": [1, 2.0], "a": "x"}
    assert digest(settings) == digest({"a": "x", "b": [1, 2.0]})  # mappings by sorted key
    assert len(digest(settings)) == 12
    assert digest(torch.zeros(4)) != digest(torch.zeros(2, 2))
    assert digest(np.zeros(4, np.float32)) != digest(torch.zeros(4))
    assert digest(torch.zeros(4)) != digest(torch.ones(4))


def test_one_checkpoint_file_per_identity():
    first = checkpoint_file("runs", "scan", {"epochs": 2}, torch.arange(3))
    assert first.parent == Path("runs") and first.name.startswith("scan-") and first.suffix == ".pt"
    assert checkpoint_file("runs", "scan", {"epochs": 2}, torch.arange(3)) == first
    assert checkpoint_file("runs", "scan", {"epochs": 3}, torch.arange(3)) != first
