"""Hooks: check every parameter section before the first node runs, so that a bad
parameter stops the run before anything on disk is overwritten."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

from irl_inr.console import ParameterError, configure_console, install_excepthook
from irl_inr.parameter_registry import DOMAINS, validate_parameters

logger = logging.getLogger(__name__)


def sections_used(dataset_names) -> set[str]:
    """The parameter sections a pipeline reads: ``params:mnist_u.training`` and
    ``params:mnist_u.training.config`` both give ``mnist_u.training``; a section
    outside any namespace (``params:training``) gives itself."""
    sections = set()
    for name in dataset_names:
        if not name.startswith("params:"):
            continue
        parts = name.removeprefix("params:").split(".")
        domain_section = parts[:2] if len(parts) >= 2 and parts[0] in DOMAINS else parts[:1]
        sections.add(".".join(domain_section))
    return sections


class ParameterValidationHooks:
    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        parameters = {section: catalog.load(f"params:{section}") for section in sections_used(pipeline.datasets())}
        try:
            validate_parameters(parameters)
        except ValueError as error:
            raise ParameterError(str(error)) from error
        logger.info("Parameters checked: %s", ", ".join(sorted(parameters)) or "none")


class ConsoleHooks:
    """A run's console (:mod:`irl_inr.console`): known harmless warnings hidden, and an
    expected user error presented as one ERROR line instead of a traceback."""

    @hook_impl
    def after_context_created(self, context) -> None:
        configure_console()
        install_excepthook()
