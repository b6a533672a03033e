"""Fixtures for the training-loop tests: the toy model module and a small config."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from irl_inr.training import TrainingConfig

TOY_PATH = Path(__file__).with_name("toy.py")
_TOY_MODULE = "irl_inr_training_tests_toy"


def load_toy():
    """Import ``toy.py`` by path under a unique name (independent of pytest's import mode)."""
    if _TOY_MODULE not in sys.modules:
        spec = importlib.util.spec_from_file_location(_TOY_MODULE, TOY_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[_TOY_MODULE] = module
        spec.loader.exec_module(module)
    return sys.modules[_TOY_MODULE]


@pytest.fixture(scope="session")
def toy():
    return load_toy()


@pytest.fixture
def config() -> TrainingConfig:
    """4 epochs x 8 steps of 8 samples on the 64 toy images; a checkpoint every 3 steps."""
    return TrainingConfig(
        epochs=4, batch_size=8, learning_rate=1e-2, seed=123, device="cpu", checkpoint_every=3, num_threads=1
    )

