"""Hooks: check every parameter section before the first node runs, so that a bad
parameter stops the run before anything on disk is overwritten."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

from irl_inr.parameters import validate_parameters

logger = logging.getLogger(__name__)


class ParameterValidationHooks:
    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        parameters = {
            name.removeprefix("params:"): catalog.load(name)
            for name in pipeline.datasets()
            if name.startswith("params:") and "." not in name.removeprefix("params:")
        }
        validate_parameters(parameters)
        logger.info("Parameters checked: %s", ", ".join(sorted(parameters)) or "none")
