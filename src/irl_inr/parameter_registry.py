"""Every parameter section the project validates, by name, and the check the project
hook runs before the first node.

Each section's dataclass lives in the ``parameters`` module of the pipeline or domain that
reads it (its ``VALIDATORS``: section name -> ``from_dict``; a domain's are its
``Domain.parameters``); this module only collects them.
Shared sections (``training``, ``clustering``, ...) are checked wherever they appear, as
``training`` or as a domain's ``wm811k.training``; a domain's front-end sections only
under that domain."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping
from typing import Any

from irl_inr.domains import DOMAINS
from irl_inr.pipelines.clustering import parameters as clustering
from irl_inr.pipelines.embedding import parameters as embedding
from irl_inr.pipelines.interpretation import parameters as interpretation
from irl_inr.pipelines.predict import parameters as predict
from irl_inr.pipelines.training import parameters as training
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
DOMAIN_VALIDATORS: dict[str, Mapping[str, Callable[[Any], Any]]] = {
    name: domain.parameters for name, domain in DOMAINS.items()
}



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


def _unknown(name: str, known: Collection[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    guess = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return f"{prefix}{name}: unknown parameter section{guess}; known: {sorted(known)}"


def check_section_names(parameters: Mapping[str, Any], runtime_names: Collection[str] = ()) -> None:
    """Every top-level name in ``parameters`` must be a domain, a shared section or a
    name the catalog reads (``runtime_names``), and every section of a domain one of its
    own or a shared one: a misspelt name (``trainig``, ``mnist_u.ingestoin``) would
    otherwise be ignored and the run go on with the defaults. ``ValueError`` names the
    first unknown one with the closest known name."""
    top = set(DOMAINS) | set(SHARED_VALIDATORS) | set(runtime_names)
    for name in parameters:
        if name not in top:
            raise ValueError(_unknown(name, top))
    for domain in DOMAINS:
        own = set(DOMAIN_VALIDATORS[domain]) | set(SHARED_VALIDATORS)
        for name in parameters.get(domain) or {}:
            if name not in own:
                raise ValueError(_unknown(name, own, f"{domain}."))
