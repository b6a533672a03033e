"""Runtime control of a node: how many CPU threads torch and the BLAS/OpenMP libraries use."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from threadpoolctl import threadpool_limits


@contextlib.contextmanager
def thread_limit(count: int | None) -> Iterator[None]:
    """Run with ``count`` torch and BLAS/OpenMP threads (None: leave the settings as they
    are); restored afterwards."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        with threadpool_limits(limits=count):
            yield
    finally:
        torch.set_num_threads(before)
