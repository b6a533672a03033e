"""IRL-INR under DDP (gloo on CPU): two processes launched by torchrun, each training on
half of every global batch, end where one process does; without a shard, or with one
holding the whole batch, the training step is the committed single-process step."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from irl_inr.models.irl_inr import IRLINR
from irl_inr.models.losses import contrastive_loss
from irl_inr.training import fit
from irl_inr.training.distributed import BatchShard
from tests.models.irl_inr_ddp_worker import CONFIG, MODEL, make_data, make_model

WORKER = Path(__file__).with_name("irl_inr_ddp_worker.py")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # the order of float additions differs, nothing else
# training_losses of IRLINR(MODEL) initialised from seed 0 on make_data()[:8], generator
# seeded 5, as computed by the single-process implementation before the step learnt shards.
COMMITTED_LOSSES = {
    "reconstruction": 0.1739422231912613,
    "consistency": 4.339432716369629,
    "symmetry": 0.006987784057855606,
    "variance": 0.07142490148544312,
    "covariance": 1.3863013982772827,
    "isometry": 4.5875630378723145,
    "total": 5.805810928344727,
}


def _assert_adam_close(actual: torch.Tensor, expected: torch.Tensor, name: str, largest_move: float) -> None:
    """Equal within ``TOLERANCE``, but for at most 1 in 10,000 elements (at least one), each
    off by less than ``largest_move`` (the learning rate times the steps, the most Adam can
    move a weight). Adam divides a gradient by its root mean square: where an element's
    gradient is within a few orders of its epsilon (1e-8), the step it takes is rounding
    noise that depends on the order of float additions (measured here, 3 steps on this test's
    data: one of encoder.trunk.0.weight's 65,536 elements off by 3.5e-5, every other within 1e-6)."""
    off = ~torch.isclose(actual, expected, **TOLERANCE)
    allowed = max(1, expected.numel() // 10_000)
    assert int(off.sum()) <= allowed, f"{name} differs in {int(off.sum())} of {expected.numel()} elements"
    if off.any():
        worst = (actual - expected).abs().max().item()
        assert worst < largest_move, f"{name} differs by {worst:.3g}, more than Adam moves a weight ({largest_move:.3g})"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _WithoutShards(IRLINR):
    """IRL-INR as ``fit`` saw it before: ``training_losses`` takes no shard."""

    def training_losses(self, images: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return super().training_losses(images, generator)


def _initialised(model_class: type[IRLINR] = IRLINR) -> IRLINR:
    """The test's model as the project builds it, initialised from seed 0."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return model_class(MODEL)


@pytest.fixture(scope="module", params=[2, 3], ids=["two views", "three views"])
def two_processes(request, tmp_path_factory) -> tuple[int, list[dict]]:
    """The number of contrastive views, and each rank's final weights and history after
    the worker's run on 2 processes."""
    folder = tmp_path_factory.mktemp("irl_inr_ddp")
    environment = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    environment["OMP_NUM_THREADS"] = "1"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}", str(WORKER), str(folder), str(request.param),
    ]  # fmt: skip
    finished = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-4000:]
    return request.param, [torch.load(folder / f"rank{rank}.pt", weights_only=False) for rank in range(2)]


def test_two_processes_train_like_one_with_the_same_global_batch(two_processes):
    views, ranks = two_processes
    one = fit(make_model(views), make_data(), CONFIG, progress=False)
    assert one.step == 3
    initial = make_model().state_dict()
    moved = max((one.state_dict[name] - weights).abs().max().item() for name, weights in initial.items())
    assert moved > 100 * TOLERANCE["atol"]  # the comparison below is far from trivial
    for rank in ranks:
        assert rank["state_dict"].keys() == one.state_dict.keys()
        for name, weights in one.state_dict.items():
            _assert_adam_close(rank["state_dict"][name], weights, name, CONFIG.learning_rate * one.step)
        # The loss terms (means over the ranks) and the norm of the averaged gradient.
        history = pd.DataFrame(rank["history"]).drop(columns="seconds")
        pd.testing.assert_frame_equal(history, one.history.drop(columns="seconds"), **TOLERANCE)
    first, second = (rank["state_dict"] for rank in ranks)
    assert all(torch.equal(first[name], second[name]) for name in first), "the ranks' weights diverged"


def test_without_a_shard_the_losses_are_the_committed_ones():
    losses = _initialised().training_losses(make_data()[:8], torch.Generator().manual_seed(5))
    assert {name: value.item() for name, value in losses.items()} == pytest.approx(COMMITTED_LOSSES, rel=1e-6)


def test_a_shard_of_the_whole_batch_is_the_step_without_a_shard():
    images = make_data()[:8]
    plain = _initialised().training_losses(images, torch.Generator().manual_seed(5))
    sharded = _initialised().training_losses(images, torch.Generator().manual_seed(5), shard=BatchShard(0, 8, 8))
    assert plain.keys() == sharded.keys()
    assert all(torch.equal(plain[name], sharded[name]) for name in plain)
    # One optimiser step (8 images) through fit, which passes BatchShard(0, 8, 8), and without.
    with_shard = fit(_initialised(), images, CONFIG, progress=False).state_dict
    without_shard = fit(_initialised(_WithoutShards), images, CONFIG, progress=False).state_dict
    assert with_shard.keys() == without_shard.keys()
    assert all(torch.equal(with_shard[name], without_shard[name]) for name in with_shard)


def test_a_part_of_a_batch_needs_the_process_group():
    images = make_data()[:4]
    with pytest.raises(ValueError, match=r"not rank 0's equal share of a batch split over the 1 process"):
        _initialised().training_losses(images, torch.Generator(), shard=BatchShard(0, 4, 8))
    with pytest.raises(ValueError, match="holds 2 rows but the batch has 4 images"):
        _initialised().training_losses(images, torch.Generator(), shard=BatchShard(0, 2, 8))


def test_contrastive_terms_of_equal_shares_average_to_the_whole_batch():
    generator = torch.Generator().manual_seed(0)
    code, other_code = torch.randn(8, 5, generator=generator), torch.randn(8, 5, generator=generator)
    halves = [contrastive_loss([code, other_code], 0.3, rows=rows) for rows in (slice(0, 4), slice(4, 8))]
    torch.testing.assert_close(sum(halves) / 2, contrastive_loss([code, other_code], 0.3))
    third_view = torch.randn(8, 5, generator=generator)
    halves = [contrastive_loss([code, other_code, third_view], 0.3, rows=rows) for rows in (slice(0, 4), slice(4, 8))]
    torch.testing.assert_close(sum(halves) / 2, contrastive_loss([code, other_code, third_view], 0.3))
