"""One process of a ``torchrun`` launch that trains the toy model (the DDP tests)::

    torchrun --nproc_per_node=2 --master_port PORT ddp_worker.py OUTPUT_DIR CONFIG_JSON

One launch (starting processes costs more than training the toy) runs, in order:

``full``      a whole run, checkpoints in ``OUTPUT_DIR/full.pt``
``stopped``   the same run stopped after :data:`STOP_AFTER_STEPS` steps (``resumed.pt``)
``resumed``   a differently initialised model finishing it from that checkpoint
``nan``       a run whose rank 1 returns a NaN loss term at call :data:`NAN_AT_CALL`

and every rank writes ``OUTPUT_DIR/rank<r>.pt``: per run, its final weights, step,
resumed-from step and history, or what its ``NonFiniteLossError`` said."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import toy  # noqa: E402  (beside this script)

from irl_inr.training import NonFiniteLossError, TrainingConfig, fit  # noqa: E402

STOP_AFTER_STEPS = 5
NAN_AT_CALL = 4  # the fifth step


def outcome(model, config: TrainingConfig, checkpoint: Path, stop_after_steps: int | None = None) -> dict:
    try:
        result = fit(model, toy.make_data(), config, checkpoint, progress=False, stop_after_steps=stop_after_steps)
    except NonFiniteLossError as error:
        return {"error": {"term": error.term, "step": error.step, "checkpoint_step": error.checkpoint_step}}
    return {
        "state_dict": result.state_dict,
        "step": result.step,
        "resumed_from_step": result.resumed_from_step,
        "history": result.history.to_dict("list"),
    }


def main(output_dir: Path, config_json: str) -> None:
    rank = int(os.environ["RANK"])
    config = TrainingConfig.from_dict(json.loads(config_json))
    outcomes = {
        "full": outcome(toy.make_model(), config, output_dir / "full.pt"),
        "stopped": outcome(toy.make_model(), config, output_dir / "resumed.pt", STOP_AFTER_STEPS),
        "resumed": outcome(toy.make_model(seed=99), config, output_dir / "resumed.pt"),
    }
    poisoned = toy.make_model()
    if rank == 1:
        poisoned.nan_at_call = NAN_AT_CALL
    outcomes["nan"] = outcome(poisoned, config, output_dir / "nan.pt")
    torch.save(outcomes, output_dir / f"rank{rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
