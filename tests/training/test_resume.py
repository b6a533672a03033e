"""An interrupted run resumed from its checkpoint ends exactly like an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from irl_inr.training import TrainingConfig, fit, load_checkpoint


def _same_history(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left.drop(columns="seconds"), right.drop(columns="seconds"), check_exact=True)


@pytest.fixture
def reference(toy, config):
    """The uninterrupted run."""
    return fit(toy.make_model(), toy.make_data(), config, progress=False)


@pytest.mark.parametrize("stops", [[11], [3, 8], [5, 19, 20, 31]])
def test_stop_and_resume_equals_uninterrupted(tmp_path, toy, config, reference, stops):
    path = tmp_path / "run.pt"
    for segment, stop in enumerate(stops):
        # Only the first segment's initialisation matters; later ones load the checkpoint.
        model = toy.make_model(seed=segment * 10)
        partial = fit(model, toy.make_data(), config, path, progress=False, stop_after_steps=stop)
        assert (partial.step, partial.completed) == (stop, False)
        assert len(partial.history) == stop // 8
    # A fresh, differently initialised model: the checkpoint must overwrite everything.
    resumed = fit(toy.make_model(seed=99), toy.make_data(), config, path, progress=False)
    assert resumed.resumed_from_step == stops[-1] and resumed.completed
    toy.assert_same_weights(resumed.state_dict, reference.state_dict)
    _same_history(resumed.history, reference.history)


def test_resume_after_crash_replays_from_the_last_checkpoint(tmp_path, toy, config, reference):
    path = tmp_path / "run.pt"
    model = toy.make_model()
    model.crash_at_call = 14  # steps 1-14 done, checkpoints at 3, 6, 8 (epoch end), 9, 12
    with pytest.raises(toy.SimulatedCrash):
        fit(model, toy.make_data(), config, path, progress=False)
    checkpoint = load_checkpoint(path)
    assert (checkpoint["step"], checkpoint["epoch"], checkpoint["batch_in_epoch"]) == (12, 1, 4)
    resumed = fit(toy.make_model(seed=1), toy.make_data(), config, path, progress=False)
    assert resumed.resumed_from_step == 12
    toy.assert_same_weights(resumed.state_dict, reference.state_dict)
    _same_history(resumed.history, reference.history)


def test_finished_checkpoint_returns_without_training(tmp_path, toy, config, reference):
    path = tmp_path / "run.pt"
    fit(toy.make_model(), toy.make_data(), config, path, progress=False)
    model = toy.make_model(seed=3)
    again = fit(model, toy.make_data(), config, path, progress=False)
    assert model.calls == 0
    assert again.completed and again.resumed_from_step == 32
    toy.assert_same_weights(again.state_dict, reference.state_dict)
    _same_history(again.history, reference.history)


def test_kill_9_mid_run_then_resume(tmp_path, toy, config, reference):
    """A real SIGKILL of a training process (checkpointing every step) loses nothing."""
    path = tmp_path / "run.pt"
    config = TrainingConfig.from_dict({**config.to_dict(), "checkpoint_every": 1})
    log = (tmp_path / "child.log").open("wb")
    child = subprocess.Popen(
        [sys.executable, toy.__file__, str(path), json.dumps(config.to_dict()), "0.03"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert child.poll() is None, "the training process ended before it could be killed: " + (
                tmp_path / "child.log"
            ).read_text()
            assert time.monotonic() < deadline, "no checkpoint from the training process within 60 s"
            if path.exists() and load_checkpoint(path)["step"] >= 5:
                break
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        log.close()
    killed_at = load_checkpoint(path)["step"]
    assert 5 <= killed_at < 32
    resumed = fit(toy.make_model(seed=2), toy.make_data(), config, path, progress=False)
    assert resumed.resumed_from_step == killed_at
    toy.assert_same_weights(resumed.state_dict, reference.state_dict)
    _same_history(resumed.history, reference.history)
