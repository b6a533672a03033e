"""Hooks: check a run before it writes anything it cannot finish, and present an expected
user error as one line.

* :class:`RunCheckHooks` - before the first node: every parameter section has a known
  name (a misspelt section stops the run with the closest known name) and passes its
  checks; then, as soon as a domain's table of images exists (a front-end node's output,
  checked before Kedro saves it, or a table the run reads from disk), the checks of
  :mod:`irl_inr.data_checks` for the stages the run holds, and whether IRL-INR's
  checkpoint, if there is one, can be resumed.
* :class:`ConsoleHooks` - the console of :mod:`irl_inr.console`; a node's error carries
  the node, so that the error line can name it and the parameter to change."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from kedro.framework.hooks import hook_impl

from irl_inr.config import runtime_parameter_names
from irl_inr.console import DataCheckError, ParameterError, configure_console, install_excepthook, remember_node
from irl_inr.data_checks import SECTIONS, check_images
from irl_inr.domains import DOMAINS
from irl_inr.parameter_registry import check_section_names, validate_parameters
from irl_inr.pipelines.training.nodes import check_training_checkpoint
from irl_inr.training import CheckpointError

logger = logging.getLogger(__name__)

# The stages of a domain's front end, whose nodes make its table of images.
FRONT_END_STAGES = frozenset({"ingestion", "augmentation"})


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


def checked_sections(used: Iterable[str]) -> dict[str, list[str]]:
    """Domain -> the sections of :data:`irl_inr.data_checks.SECTIONS` a run reads."""
    checked: dict[str, list[str]] = {}
    for name in sorted(used):
        domain, _, section = name.partition(".")
        if domain in DOMAINS and section in SECTIONS:
            checked.setdefault(domain, []).append(section)
    return checked


class RunCheckHooks:
    """Stop a run before it writes what it cannot finish (see the module docstring)."""

    def __init__(self) -> None:
        self._runtime_names: set[str] = set()
        # Domain -> data-checked sections of the current run; None where before_pipeline_run
        # did not run in this process (a Dask worker): then every section is checked.
        self._checked: dict[str, list[str]] | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._runtime_names = runtime_parameter_names(Path(context.config_loader.conf_source))

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        used = sections_used(pipeline.datasets())
        try:
            check_section_names(catalog.load("parameters"), self._runtime_names)
            parameters = {section: catalog.load(f"params:{section}") for section in used}
            validate_parameters(parameters)
        except ValueError as error:
            raise ParameterError(str(error)) from error
        logger.info("Parameters checked: %s", ", ".join(sorted(parameters)) or "none")
        self._checked = checked_sections(used)
        for domain in self._checked:
            table = f"{domain}.image_table"
            if table in pipeline.inputs() and catalog.exists(table):  # read, not made, by this run
                images = f"{domain}.images"
                trains = f"params:{domain}.training" in pipeline.inputs()
                self._check(domain, catalog.load(table), catalog.load(images) if trains else None, catalog)

    @hook_impl
    def after_node_run(self, node, catalog, outputs: dict[str, Any]) -> None:
        domain = node.namespace
        if domain not in DOMAINS or not node.tags & FRONT_END_STAGES:
            return
        for name, value in outputs.items():
            if isinstance(value, pd.DataFrame) and "label" in value.columns:
                images = outputs.get(f"{domain}.images") if name == f"{domain}.image_table" else None
                self._check(domain, value, images, catalog)

    def _check(self, domain: str, table: pd.DataFrame, images: np.ndarray | None, catalog) -> None:
        """The data checks of ``domain`` on ``table``; with ``images``, IRL-INR's checkpoint too."""
        sections = list(SECTIONS) if self._checked is None else self._checked.get(domain, [])
        if not sections:  # e.g. `--tags ingestion`: no stage of this run depends on the images
            return
        parameters = {section: catalog.load(f"params:{domain}.{section}") for section in sections}
        try:
            logger.info("Data checked: %s", check_images(domain, table, parameters))
        except ValueError as error:
            raise DataCheckError(str(error)) from error
        if images is not None and "training" in parameters:
            training = parameters["training"]
            try:
                with torch.random.fork_rng():
                    check_training_checkpoint(images, table, training)
            except ValueError as error:  # the images do not fit the model (its image_size)
                raise DataCheckError(f"{domain}.{error}") from error
            except CheckpointError as error:
                raise ParameterError(
                    f"{domain}.training.checkpoint_dir = {training.get('checkpoint_dir')!r}: "
                    + str(error).replace("the stage's checkpoint_dir parameter", f"{domain}.training.checkpoint_dir")
                ) from error


class ConsoleHooks:
    """A run's console (:mod:`irl_inr.console`): known harmless warnings hidden, and an
    expected user error presented as one ERROR line instead of a traceback."""

    @hook_impl
    def after_context_created(self, context) -> None:
        configure_console()
        install_excepthook()

    @hook_impl
    def on_node_error(self, error: Exception, node) -> None:
        remember_node(error, node)
