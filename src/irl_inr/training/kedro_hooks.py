"""Kedro under torchrun: only rank 0 writes the run's outputs.

``torchrun --nproc_per_node=N -m kedro run --pipelines mnist_u --tags training`` starts
N Kedro sessions, one per rank. Each loads the same inputs and runs the same nodes
(the training node's ``fit`` joins them into one DDP run); without this hook each
would also save every output, N writers on the same files and N versions of every
versioned dataset. With it, ranks above 0 keep their outputs in memory, so rank 0's
files are the run's only files. A run without torchrun (``WORLD_SIZE`` unset) is
untouched."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline

from .distributed import world_from_environment

logger = logging.getLogger(__name__)


class RankZeroSavesHooks:
    """On ranks above 0 of a torchrun launch, replace every dataset the pipeline writes
    with a :class:`~kedro.io.MemoryDataset` before the first node runs."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog) -> None:
        world = world_from_environment()
        if world.is_main:
            return
        outputs = sorted(pipeline.all_outputs())
        for name in outputs:
            catalog[name] = MemoryDataset()
        logger.info(
            "rank %d of %d: the %d outputs of this run stay in memory; rank 0 saves them",
            world.rank,
            world.size,
            len(outputs),
        )
