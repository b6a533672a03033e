"""The report's provenance section: the commit, data and package versions of a run and
every parameter section it read."""

from __future__ import annotations

import html
from collections.abc import Mapping

import yaml

from irl_inr.reporting.html import Section, paragraph_html, preformatted_html
from irl_inr.reporting.parameters import ReportingParameters


def used_parameters(parameters: Mapping[str, Mapping]) -> dict[str, Mapping]:
    """The parameter sections a run read, the training section cut to its active
    configuration (``configurations[config]``, shown as ``configuration``)."""
    sections = {}
    for name, values in parameters.items():
        if not isinstance(values, Mapping):
            continue
        values = dict(values)
        if name == "training" and isinstance(values.get("configurations"), Mapping):
            configurations = values.pop("configurations")
            active = values.get("config")
            if active not in configurations:
                raise ValueError(f"training.config = {active!r} is not one of the configurations {sorted(configurations)}")
            values["configuration"] = configurations[active]
        sections[name] = values
    return sections


def provenance_html(generated_at: str, provenance: Mapping) -> str:
    """The run's origin as a definition list: commit and dirty flag, ``dvc.lock`` hash,
    data sources, Python and package versions."""
    git = provenance["git"]
    entries = [
        ("generated", generated_at),
        ("git commit", git["commit"] + (" (dirty: uncommitted changes)" if git["dirty"] else " (clean)")),
        ("dvc.lock sha256", provenance["dvc_lock"]),
        *((f"data source: {name}", text) for name, text in provenance["data_sources"].items()),
        ("python", provenance["python"]),
        *provenance["packages"].items(),
    ]
    rows = "".join(f"<dt>{html.escape(str(key))}</dt><dd>{html.escape(str(value))}</dd>" for key, value in entries)
    return f'<dl class="provenance" id="provenance">{rows}</dl>'


def provenance_section(
    generated_at: str, provenance: Mapping, parameters: Mapping[str, Mapping], options: ReportingParameters
) -> Section:
    """Where the run came from (:func:`provenance_html`) and every parameter section it read."""
    body = paragraph_html(
        f"Report generated at {generated_at} for the domain {options.domain}. A dirty checkout means the code that "
        "ran differs from the commit named here."
    ) + provenance_html(generated_at, provenance)
    for name, values in parameters.items():
        text = yaml.safe_dump(_plain(values), sort_keys=True, default_flow_style=None, width=100)
        body += f"<h3>{html.escape(name)}</h3>" + preformatted_html(text)
    return Section("Provenance: code, data, parameters and versions", body)


def _plain(values):
    """Parameters as plain dicts, lists and scalars (as Kedro may hand over OmegaConf-made
    containers or tuples), so that they print as ordinary YAML."""
    if isinstance(values, Mapping):
        return {str(key): _plain(value) for key, value in values.items()}
    if isinstance(values, list | tuple):
        return [_plain(value) for value in values]
    if values is None or isinstance(values, bool | int | float | str):
        return values
    return str(values)
