"""Where training runs and in what precision: device choice, bf16 autocast, compile.

The CPU path is plain float32 and eager unless ``mixed_precision: bf16`` is asked for on a
CPU with native bfloat16 arithmetic (AVX-512 BF16 or AMX: oneDNN's bf16 kernels); on other
CPUs bf16 is emulated and slower than float32, so the request falls back to float32.
``torch.compile`` is used on CUDA only."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import torch

logger = logging.getLogger(__name__)


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cpu"``; ``"cuda"`` / ``"cuda:N"``.

    Asking for CUDA on a machine without it is a ``RuntimeError`` rather than a
    silent fall-back to a CPU run that would take days."""
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise ValueError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {name!r}")
    if name == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from error
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(f"unsupported device {name!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was requested but CUDA is not available on this machine")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(
            f"device {name!r} was requested but only {torch.cuda.device_count()} CUDA device(s) exist"
        )
    return device


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (oneDNN's bf16 kernels are usable)."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def autocast_dtype(mixed_precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``mixed_precision`` on ``device``, or ``None`` for fp32.

    ``"auto"`` means bf16 on CUDA GPUs that support it, fp32 elsewhere (every CPU);
    ``"bf16"`` on a CPU means bf16 where the CPU has native bf16 arithmetic, and fp32
    with a warning where it has not."""
    if mixed_precision not in ("auto", "bf16", "none"):
        raise ValueError(f"mixed_precision must be 'auto', 'bf16' or 'none', got {mixed_precision!r}")
    if mixed_precision == "none":
        return None
    if device.type != "cuda":
        if mixed_precision != "bf16":
            return None
        if cpu_has_native_bf16():
            return torch.bfloat16
        logger.warning("mixed_precision='bf16' is ignored on %s: this CPU has no native bf16, training in float32", device)
        return None
    if mixed_precision == "auto" and not torch.cuda.is_bf16_supported():
        logger.info("this GPU has no native bf16; training in float32")
        return None
    return torch.bfloat16


def autocast_context(dtype: torch.dtype | None, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype`` on ``device``, or a no-op when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def maybe_compile(function: Callable[..., Any], device: torch.device, enabled: bool) -> Callable[..., Any]:
    """``torch.compile(function)`` on CUDA when ``enabled``; ``function`` unchanged otherwise.

    The model's bound ``training_losses`` is compiled rather than the module, so the
    module (and its ``state_dict`` keys) stays untouched."""
    if not enabled:
        return function
    if device.type != "cuda":
        logger.info("compile=True is ignored on %s: torch.compile is used on CUDA only", device)
        return function
    return torch.compile(function)
