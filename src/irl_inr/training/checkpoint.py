"""Training checkpoints: atomic writes, safe loads, and a fingerprint of the run.

A checkpoint is a plain ``dict`` of tensors, numbers, strings, lists and dicts, so
it loads with ``torch.load(weights_only=True)``:

``format``            :data:`FORMAT_VERSION`
``fingerprint``       sha256 of ``identity`` (a quick equality check)
``identity``          what the run optimises: the fingerprinted config fields, the
                      model class, its parameter names/shapes/dtypes and the data
                      shape/dtype plus a hash of a few samples
``model_state``       model ``state_dict`` (CPU tensors)
``optimizer_state``   optimiser ``state_dict``
``step``              optimiser steps done
``epoch``             epochs completed
``batch_in_epoch``    batches of epoch ``epoch`` already done (mid-epoch position)
``epoch_sums``/``epoch_counts``/``epoch_seconds``
                      running loss sums of the unfinished epoch, so its mean is exact
``history``           one dict of floats per completed epoch
``torch_version``     informational

A checkpoint's file name carries a digest of everything its result depends on
(:func:`checkpoint_file`: settings, the model's parameter names and shapes, the data
itself), so another run never meets it. One whose ``identity`` still differs from the
current run's is *refused* (:class:`CheckpointMismatchError`, naming each difference)
rather than silently ignored or overwritten: training over it would destroy it. Delete
it, or point the stage's ``checkpoint_dir`` parameter elsewhere, to start afresh.
:func:`check_resumable` makes the same check before a run starts training."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from irl_inr.fingerprint import digest

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
REQUIRED_KEYS = frozenset(
    {
        "format",
        "fingerprint",
        "identity",
        "model_state",
        "optimizer_state",
        "step",
        "epoch",
        "batch_in_epoch",
        "epoch_sums",
        "epoch_counts",
        "epoch_seconds",
        "history",
    }
)
_DATA_SAMPLES = 8  # samples hashed into the data fingerprint (cheap, deterministic)


def checkpoint_file(directory: str | Path, name: str, *identity: Any) -> Path:
    """The checkpoint of a run named ``name`` whose result depends on ``identity`` (its
    settings, :func:`state_signature` of its model, its data itself, ...: see
    :func:`irl_inr.fingerprint.digest`): one file per identity, so a rerun with the same
    identity resumes it and a run with another (other images of the same shape
    included) starts its own."""
    return Path(directory) / f"{name}-{digest(*identity)}.pt"


def state_signature(model: nn.Module) -> list[list]:
    """The names, shapes and dtypes of ``model``'s state: what a checkpoint's weights must fit."""
    return [
        [name, list(tensor.shape), str(tensor.dtype).removeprefix("torch.")]
        for name, tensor in model.state_dict().items()
    ]


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or is not a training checkpoint."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint belongs to a different configuration, model or data set."""


# -- identity / fingerprint ----------------------------------------------------------------


def run_identity(config_fields: Mapping[str, Any], model: nn.Module, data: torch.Tensor) -> dict[str, Any]:
    """What a run optimises, as plain JSON-able values (see the module docstring).

    The model is named by its class ``__qualname__`` (not its module path, which may
    legitimately move) and described by the names, shapes and dtypes of its state."""
    signature = state_signature(model)
    count = data.shape[0]
    picks = sorted({round(i * (count - 1) / max(_DATA_SAMPLES - 1, 1)) for i in range(_DATA_SAMPLES)})
    sample = data[picks].detach().to("cpu").contiguous()
    return {
        "config": dict(config_fields),
        "model_class": type(model).__qualname__,
        "model_state_sha256": _sha256(json.dumps(signature)),
        "data_shape": list(data.shape),
        "data_dtype": str(data.dtype).removeprefix("torch."),
        "data_sample_sha256": hashlib.sha256(sample.view(torch.uint8).numpy().tobytes()).hexdigest(),
    }


def fingerprint(identity: Mapping[str, Any]) -> str:
    """A stable sha256 of ``identity`` (keys sorted)."""
    return _sha256(json.dumps(identity, sort_keys=True, default=str))


def check_identity(checkpoint: Mapping[str, Any], identity: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Raise :class:`CheckpointMismatchError` listing how ``checkpoint`` differs from ``identity``."""
    if checkpoint["fingerprint"] == fingerprint(identity):
        return
    saved = checkpoint["identity"]
    differences = []
    saved_config, config = dict(saved.get("config", {})), dict(identity["config"])
    for key in sorted(set(saved_config) | set(config)):
        if saved_config.get(key) != config.get(key):
            differences.append(f"training.{key}: checkpoint {saved_config.get(key)!r}, now {config.get(key)!r}")
    descriptions = {
        "model_class": "model class",
        "model_state_sha256": "model parameter names/shapes/dtypes",
        "data_shape": "data shape",
        "data_dtype": "data dtype",
        "data_sample_sha256": "data content",
    }
    for key, description in descriptions.items():
        if saved.get(key) != identity.get(key):
            if key.endswith("sha256"):
                differences.append(f"{description} differ(s)")
            else:
                differences.append(f"{description}: checkpoint {saved.get(key)!r}, now {identity.get(key)!r}")
    if not differences:  # e.g. an identity field this version does not describe
        differences.append("fingerprint differs")
    raise CheckpointMismatchError(
        f"checkpoint {os.fspath(path)} was written by a different run and is refused: "
        + "; ".join(differences)
        + f". {START_AFRESH}"
    )


START_AFRESH = "Delete it, or set the stage's checkpoint_dir parameter to another folder, to start afresh."


def check_resumable(path: str | os.PathLike, config_fields: Mapping[str, Any], model: nn.Module,
                    data: torch.Tensor) -> None:
    """Raise :class:`CheckpointError` if ``path`` exists but is not a checkpoint that the
    run of ``model`` on ``data`` (settings ``config_fields``) could resume, as
    :func:`~.loop.fit` would once it starts; nothing when there is no file yet."""
    if Path(path).exists():
        check_identity(load_checkpoint(path), run_identity(config_fields, model, data), path)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- reading and writing -------------------------------------------------------------------


def save_checkpoint(payload: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write ``payload`` to ``path`` atomically.

    The bytes go to a temporary file in the same directory, are flushed and
    fsync'ed, and only then replace ``path`` with ``os.replace`` (atomic on POSIX and
    Windows); the directory is fsync'ed too where the OS allows. If anything fails
    (or the process dies) before the replace, ``path`` still holds the previous
    checkpoint; a failed write removes its temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # A file of this name can only be left over by a killed process that had our pid.
    temporary.unlink(missing_ok=True)
    # O_EXCL: never write through a link or into someone else's file; mode 0o666 lets
    # the umask decide the permissions, as for any other output file.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            torch.save(dict(payload), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (CPU tensors, ``weights_only``).

    An unreadable file or one that is not a training checkpoint of this format is a
    :class:`CheckpointError`: it is never silently replaced by a fresh run."""
    path = Path(path)
    start_over = f"delete {path} (or set the stage's checkpoint_dir parameter to another folder) to start over"
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means the same thing here
        raise CheckpointError(
            f"could not read checkpoint {path}: {str(error).rstrip('.')}. The file is truncated or corrupt: {start_over}"
        ) from error
    if not isinstance(checkpoint, dict) or not REQUIRED_KEYS <= set(checkpoint):
        missing = sorted(REQUIRED_KEYS - set(checkpoint)) if isinstance(checkpoint, dict) else "all"
        raise CheckpointError(
            f"{path} is not a training checkpoint (missing keys: {missing}): move it away if you need it, or {start_over}"
        )
    if checkpoint["format"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format {checkpoint['format']!r}; this version reads format {FORMAT_VERSION}: "
            f"{start_over}"
        )
    return checkpoint


def cpu_state_dict(module: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached CPU *copy* of ``module.state_dict()``, or of a state dict given as is
    (never aliases the live weights)."""
    state = module.state_dict() if isinstance(module, nn.Module) else module
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in state.items()}
