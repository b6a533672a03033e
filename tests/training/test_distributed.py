"""Multi-process training (DDP, gloo on CPU): two processes launched by torchrun train
like one process on the same global batches, resume alike, and stop together."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from irl_inr.training import TrainingConfig, fit, load_checkpoint
from irl_inr.training.distributed import (
    BatchShard,
    World,
    batch_shard,
    check_even_batches,
    rank_device,
    world_from_environment,
)

WORKER = Path(__file__).with_name("ddp_worker.py")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# 2 epochs x 8 steps of a global batch of 8 (4 per process); checkpoints every 3 steps.
CONFIG = TrainingConfig(
    epochs=2, batch_size=8, learning_rate=1e-2, seed=123, device="cpu", checkpoint_every=3, num_threads=1
)
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}  # float reduction order differs, nothing else


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Every rank's outcomes of the runs in ``ddp_worker.py`` (one torchrun launch), and its folder."""
    folder = tmp_path_factory.mktemp("ddp")
    environment = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    environment["OMP_NUM_THREADS"] = "1"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}", str(WORKER), str(folder), json.dumps(CONFIG.to_dict()),
    ]  # fmt: skip
    finished = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-4000:]
    ranks = [torch.load(folder / f"rank{rank}.pt", weights_only=False) for rank in range(2)]
    return {"ranks": ranks, "folder": folder}


@pytest.fixture(scope="module")
def reference(toy) -> dict:
    """The single-process run with the same global batch size."""
    result = fit(toy.make_model(), toy.make_data(), CONFIG, progress=False)
    return {"state_dict": result.state_dict, "history": result.history}


def _assert_close_weights(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        torch.testing.assert_close(left[name], right[name], **TOLERANCE, msg=f"{name} differs")


def _assert_close_history(recorded: dict[str, list], expected: pd.DataFrame) -> None:
    frame = pd.DataFrame(recorded)
    pd.testing.assert_frame_equal(frame.drop(columns="seconds"), expected.drop(columns="seconds"), **TOLERANCE)


def test_two_processes_end_with_the_single_process_weights(runs, reference):
    for outcome in (rank["full"] for rank in runs["ranks"]):
        assert outcome["step"] == 16 and outcome["resumed_from_step"] is None
        _assert_close_weights(outcome["state_dict"], reference["state_dict"])
        _assert_close_history(outcome["history"], reference["history"])
    first, second = (rank["full"]["state_dict"] for rank in runs["ranks"])
    assert all(torch.equal(first[name], second[name]) for name in first), "the ranks' weights diverged"


def test_rank_zero_writes_the_checkpoint(runs, reference):
    checkpoint = load_checkpoint(runs["folder"] / "full.pt")
    assert checkpoint["step"] == 16
    _assert_close_weights(checkpoint["model_state"], reference["state_dict"])
    assert sorted(path.name for path in runs["folder"].iterdir()) == [
        "full.pt", "nan.pt", "rank0.pt", "rank1.pt", "resumed.pt"
    ]  # fmt: skip  (no temporary file left by a second writer)


def test_two_processes_resume_like_one(runs, reference):
    for rank in runs["ranks"]:
        assert rank["stopped"]["step"] == 5
        # A differently initialised model: every rank loaded the checkpoint of step 5.
        resumed = rank["resumed"]
        assert (resumed["step"], resumed["resumed_from_step"]) == (16, 5)
        _assert_close_weights(resumed["state_dict"], reference["state_dict"])
        _assert_close_history(resumed["history"], reference["history"])


def test_a_two_process_checkpoint_resumes_in_one_process(runs, reference, toy, tmp_path):
    # The nan run's last good checkpoint (step 3), written by rank 0 of two processes.
    path = tmp_path / "from_two_processes.pt"
    shutil.copy(runs["folder"] / "nan.pt", path)
    assert load_checkpoint(path)["step"] == 3
    resumed = fit(toy.make_model(seed=7), toy.make_data(), CONFIG, path, progress=False)
    assert resumed.resumed_from_step == 3
    _assert_close_weights(resumed.state_dict, reference["state_dict"])


def test_a_nan_on_one_rank_stops_every_rank(runs):
    # Rank 1 alone returned a NaN at its fifth step; both stop there, naming the same term.
    for rank in runs["ranks"]:
        assert rank["nan"]["error"] == {"term": "recon", "step": 5, "checkpoint_step": 3}
    assert load_checkpoint(runs["folder"] / "nan.pt")["step"] == 3


def test_world_from_environment():
    assert world_from_environment({}) == World(rank=0, size=1, local_rank=0)
    assert world_from_environment({"WORLD_SIZE": "1"}) == World()
    torchrun = {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "MASTER_ADDR": "node0", "MASTER_PORT": "29500"}
    assert world_from_environment(torchrun) == World(rank=3, size=4, local_rank=1)
    with pytest.raises(ValueError, match="MASTER_ADDR, MASTER_PORT not set: launch .* with torchrun"):
        world_from_environment({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"})
    with pytest.raises(ValueError, match=r"RANK = 4: must be in \[0, WORLD_SIZE = 4\)"):
        world_from_environment({**torchrun, "RANK": "4"})
    with pytest.raises(ValueError, match="WORLD_SIZE = 'two': must be an integer"):
        world_from_environment({"WORLD_SIZE": "two"})


def test_each_rank_takes_its_share_of_the_global_batch():
    shares = [batch_shard(12, World(rank=rank, size=3)) for rank in range(3)]
    assert shares == [BatchShard(0, 4, 12), BatchShard(4, 8, 12), BatchShard(8, 12, 12)]
    assert batch_shard(12, World()) == BatchShard(0, 12, 12)


def test_batches_that_do_not_split_evenly_are_refused():
    two = World(rank=0, size=2)
    check_even_batches(sample_count=64, batch_size=8, drop_last=False, world=two)
    check_even_batches(sample_count=65, batch_size=8, drop_last=True, world=two)
    with pytest.raises(ValueError, match="training.batch_size = 9 does not split evenly over WORLD_SIZE = 2"):
        check_even_batches(sample_count=64, batch_size=9, drop_last=True, world=two)
    with pytest.raises(ValueError, match="training.drop_last = false leaves a last batch of 1 samples"):
        check_even_batches(sample_count=65, batch_size=8, drop_last=False, world=two)


def test_a_fixed_cuda_device_is_refused_under_torchrun():
    with pytest.raises(ValueError, match=r"training.device = 'cuda:1': under torchrun each rank trains on cuda:LOCAL"):
        rank_device("cuda:1", World(rank=1, size=2, local_rank=1))
    assert rank_device("cpu", World(rank=1, size=2, local_rank=1)) == torch.device("cpu")
