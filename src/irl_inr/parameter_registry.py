"""Every parameter section the project validates, by name, and the check the project
hook runs before the first node.

Each section's dataclass lives in the ``parameters`` module of the pipeline that reads
it (its ``VALIDATORS``: section name -> ``from_dict``); this module only collects them.
Shared sections (``training``, ``clustering``, ...) are checked wherever they appear, as
``training`` or as a domain's ``wm811k.training``; a domain's front-end sections only
under that domain."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from irl_inr.pipelines.clustering import parameters as clustering
from irl_inr.pipelines.cryo_em import parameters as cryo_em
from irl_inr.pipelines.embedding import parameters as embedding
from irl_inr.pipelines.interpretation import parameters as interpretation
from irl_inr.pipelines.mnist_u import parameters as mnist_u
from irl_inr.pipelines.predict import parameters as predict
from irl_inr.pipelines.training import parameters as training
from irl_inr.pipelines.wm811k import parameters as wm811k
from irl_inr.reporting.parameters import ReportingParameters

# Sections every domain shares.
SHARED_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    **training.VALIDATORS,
    **embedding.VALIDATORS,
    **clustering.VALIDATORS,
    **interpretation.VALIDATORS,
    **predict.VALIDATORS,
    "reporting": ReportingParameters.from_dict,
}

# Each domain's own front-end sections.
DOMAIN_VALIDATORS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "mnist_u": mnist_u.VALIDATORS,
    "wm811k": wm811k.VALIDATORS,
    "cryo_em": cryo_em.VALIDATORS,
}

DOMAINS = tuple(DOMAIN_VALIDATORS)


def validate_parameters(parameters: Mapping[str, Any]) -> None:
    """Validate every known section in ``parameters``, whose keys are a section
    (``training``) or a domain's section (``wm811k.training``); errors name the
    parameter with its domain (``wm811k.training.config = ...``)."""
    for key, values in parameters.items():
        domain, _, section = key.rpartition(".")
        validator = DOMAIN_VALIDATORS.get(domain, {}).get(section) or SHARED_VALIDATORS.get(section)
        if validator is None:
            continue
        try:
            validator(values)
        except ValueError as error:
            message = str(error)
            if domain and not message.startswith(f"{domain}."):
                message = f"{domain}.{message}"
            raise ValueError(message) from error
