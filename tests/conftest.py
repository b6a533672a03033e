"""Shared fixtures: where the real data lies, and tiny generated digits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (real files no one here wrote)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (the shared/ folder beside the checkout)")
    return SHARED_DATA


# Threads of every test (default 1: tiny problems only lose time to thread hand-offs on a
# shared CPU). `.ci/run` also runs the learned-quality tests with 2, and under
# ATEN_CPU_CAPABILITY=default, so a result that depends on the kernels is caught here.
TEST_THREADS_VARIABLE = "IRL_INR_TEST_THREADS"


def torch_threads_for_tests() -> int:
    """Torch threads for a test, from ``IRL_INR_TEST_THREADS`` (default 1)."""
    value = os.environ.get(TEST_THREADS_VARIABLE, "1")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{TEST_THREADS_VARIABLE} must be a positive integer, got {value!r}")
    return int(value)


@pytest.fixture(autouse=True)
def _deterministic_torch():
    before = torch.get_num_threads()
    torch.manual_seed(0)
    torch.set_num_threads(torch_threads_for_tests())
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_digits() -> tuple[np.ndarray, np.ndarray]:
    """30 synthetic 28x28 uint8 'digits' (an off-centre bar per label) and labels 0..9."""
    rng = np.random.default_rng(0)
    images = np.zeros((30, 28, 28), dtype=np.uint8)
    labels = np.arange(30) % 10
    for index, label in enumerate(labels):
        images[index, 6 + label : 10 + label, 8:20] = 200 + rng.integers(0, 55)
    return images, labels.astype(np.int64)
