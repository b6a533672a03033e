"""The one training loop shared by every model (IRL-INR, SCAN heads, DTI).

* :class:`TrainingConfig` - validated settings (``from_dict`` for parameters).
* :func:`fit` - Adam training with deterministic shuffling/augmentation seeds,
  atomic checkpoints, exact resume, NaN/inf checks, bf16/compile on CUDA.
* :func:`resolve_device` - ``"auto" | "cpu" | "cuda"`` to a ``torch.device``.
* :mod:`.distributed` - the same ``fit`` under ``torchrun`` (DDP; rank 0 checkpoints);
  :mod:`.kedro_hooks` - rank 0 alone saves a Kedro run launched by ``torchrun``.
"""

from .checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    check_resumable,
    checkpoint_file,
    load_checkpoint,
    save_checkpoint,
    state_signature,
)
from .config import TrainingConfig
from .data import TensorData, TrainingData
from .device import resolve_device
from .loop import fit
from .inputs import TrainableModel
from .results import NonFiniteLossError, TrainingResult

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "NonFiniteLossError",
    "TensorData",
    "TrainableModel",
    "TrainingConfig",
    "TrainingData",
    "TrainingResult",
    "check_resumable",
    "checkpoint_file",
    "fit",
    "load_checkpoint",
    "resolve_device",
    "save_checkpoint",
    "state_signature",
]
