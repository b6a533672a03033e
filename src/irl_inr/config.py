"""The project's config loader: Kedro's ``OmegaConfigLoader`` plus one rule for
parameters.  Every domain reads the shared stages' sections (``training``,
``embedding``, ...) inside its namespace (``params:wm811k.training``); a domain's file
``parameters_<domain>.yml`` writes only where it differs from the stage defaults in
``parameters_<stage>.yml``, and the loader lays those differences over the defaults.

The rule runs after Kedro has merged the environments (``conf/base``, ``conf/local``) and
the runtime parameters (``--params``), so a change to a stage default reaches every
domain that does not set that key itself, from any of those places.  The parameter files
hold plain YAML without cross-file interpolation, so ``dvc exp run -S file:key=value``
can edit any of them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

from irl_inr.domains import DOMAINS

SHARED_SECTIONS = ("training", "embedding", "clustering", "interpretation", "isometry", "reporting", "predict")


def lay_domains_over_stage_defaults(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """``parameters`` with each domain's shared sections replaced by the stage default
    with the domain's differences laid over it (mappings key by key, lists whole)."""
    result = dict(parameters)
    for domain in DOMAINS:
        own = dict(parameters.get(domain) or {})
        for section in SHARED_SECTIONS:
            if section not in parameters:
                continue
            differences = own.get(section) or {}
            if not isinstance(differences, Mapping):
                raise ValueError(f"{domain}.{section} must be a mapping of differences from {section}, got {differences!r}")
            own[section] = OmegaConf.to_container(OmegaConf.merge(parameters[section] or {}, differences))
        result[domain] = own
    return result


_RUNTIME_PARAMETER = re.compile(r"\$\{runtime_params:\s*([A-Za-z_]\w*)")


def runtime_parameter_names(conf_source: Path) -> set[str]:
    """The names that the catalog files read with ``${runtime_params:<name>, ...}``
    (``--params cryo_em_star=<file>``): top-level parameters that are not sections."""
    return {name for path in sorted(conf_source.rglob("catalog*.yml"))
            for name in _RUNTIME_PARAMETER.findall(path.read_text(encoding="utf-8"))}


class ProjectConfigLoader(OmegaConfigLoader):
    def __getitem__(self, key: str) -> dict[str, Any]:
        config = super().__getitem__(key)
        return lay_domains_over_stage_defaults(config) if key == "parameters" else config
