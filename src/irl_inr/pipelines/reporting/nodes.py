"""Reporting nodes: the flat ``metrics.json`` and the self-contained HTML report."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from irl_inr.reporting.html import Section, check_self_contained, render_page
from irl_inr.reporting.parameters import ReportingParameters
from irl_inr.reporting.summary import summary_page
from irl_inr.reporting.sections import (
    clustering_section,
    data_section,
    provenance_section,
    representations_section,
    training_section,
    used_parameters,
)


def flatten_metrics(prefix: str, metrics: Mapping) -> dict[str, float]:
    """``{"kmeans_z": {"acc": 0.5}}`` with prefix ``mnist_u`` -> ``{"mnist_u.kmeans_z.acc": 0.5}``.
    Only numbers are kept; a NaN is an error (DVC and JSON readers choke on it)."""
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(name, value))
        elif isinstance(value, bool):
            flat[name] = int(value)
        elif isinstance(value, int | float):
            if not math.isfinite(value):
                raise ValueError(f"metric {name} is {value}")
            flat[name] = value
    return flat


def collect_metrics(
    domain: str, embedding_metrics: Mapping, clustering_metrics: Mapping, isometry_metrics: Mapping,
    interpretation_metrics: Mapping,
) -> dict[str, float]:
    """The flat ``metrics.json`` of a run; the isometry and interpretation measures under
    ``<domain>.isometry.`` and ``<domain>.interpretation.``."""
    return merge_metrics(
        domain, embedding_metrics, clustering_metrics, {"isometry": isometry_metrics},
        {"interpretation": interpretation_metrics},
    )


def merge_metrics(domain: str, *stage_metrics: Mapping) -> dict[str, float]:
    """Every stage's metrics as one flat, sorted mapping with keys ``<domain>.<measure>``."""
    merged: dict[str, float] = {}
    for metrics in stage_metrics:
        for key, value in flatten_metrics(domain, metrics).items():
            if key in merged:
                raise ValueError(f"metric {key} is reported by two stages")
            merged[key] = value
    return dict(sorted(merged.items()))


def gather_parameters(**sections: dict) -> dict[str, dict]:
    """Every parameter section the run read, by name, for the report's provenance block."""
    return dict(sections)


def build_report(
    reporting_parameters: dict,
    images: np.ndarray | None = None,
    image_table: pd.DataFrame | None = None,
    training_history: pd.DataFrame | None = None,
    semantic_codes: np.ndarray | None = None,
    predicted_poses: pd.DataFrame | None = None,
    reconstructions: np.ndarray | None = None,
    canonical_images: np.ndarray | None = None,
    embedding_metrics: dict | None = None,
    cluster_assignments: pd.DataFrame | None = None,
    clustering_comparison: pd.DataFrame | None = None,
    mining_metrics: dict | None = None,
    parameters: dict | None = None,
    provenance: dict | None = None,
    **extra_sections: Sequence[tuple[str, str]],
) -> str:
    """One self-contained HTML page (figures embedded as PNG ``data:`` URIs, no outside
    resources) on a domain's run: the data, training, representations, clustering, and
    the parameters and package versions that produced it.

    A section appears when its main input is given (wire the node with a dict of inputs
    and leave out what a domain lacks): the data with ``images`` (and ``image_table``);
    training with ``training_history``; representations with ``semantic_codes`` (and
    ``predicted_poses``, ``reconstructions``, ``canonical_images``, ``images``,
    ``image_table``; ``embedding_metrics`` adds its table, clusters colour the map);
    clustering with ``cluster_assignments`` and ``clustering_comparison`` (and
    ``image_table``; ``canonical_images`` with ``predicted_poses`` add the cluster
    gallery, ``mining_metrics`` its table). Any other
    keyword input is a list of ``(title, html)`` sections from another stage, appended in
    the order given (build their HTML with :mod:`irl_inr.reporting.html`).

    The provenance section closes the page: with ``provenance`` (the
    ``ProvenanceDataset``'s commit, ``dvc.lock`` hash, versions and data sources) and
    ``parameters`` (section name -> values: every section the run
    read, the training section cut to its active configuration)."""
    options = ReportingParameters.from_dict(reporting_parameters)
    extras = [section for name, extra in extra_sections.items() for section in _extra_sections(name, extra)]
    sections: list[Section] = []
    if images is not None:
        _require_together({"images": images, "image_table": image_table}, "the data")
        sections.append(data_section(images, image_table, options))
    if training_history is not None:
        sections.append(training_section(training_history, options))
    if semantic_codes is not None:
        _require_together(
            {"semantic_codes": semantic_codes, "predicted_poses": predicted_poses, "reconstructions": reconstructions,
             "canonical_images": canonical_images, "images": images, "image_table": image_table},
            "representations",
        )
        sections.append(representations_section(
            images, image_table, semantic_codes, predicted_poses, reconstructions, canonical_images,
            embedding_metrics, cluster_assignments, clustering_comparison, options,
        ))
    if cluster_assignments is not None or clustering_comparison is not None:
        _require_together(
            {"cluster_assignments": cluster_assignments, "clustering_comparison": clustering_comparison,
             "image_table": image_table},
            "clustering",
        )
        sections.append(clustering_section(
            cluster_assignments, clustering_comparison, image_table, canonical_images, predicted_poses,
            mining_metrics, options, images,
        ))
    sections.extend(extras)
    generated_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if provenance is not None:
        used = used_parameters(parameters or {})
        sections.append(provenance_section(generated_at, provenance, used, options))
    return render_page(f"IRL-INR report: {options.domain}", f"Domain {options.domain}, generated {generated_at}", sections)


def _require_together(inputs: Mapping[str, object], section: str) -> None:
    missing = [name for name, value in inputs.items() if value is None]
    if missing:
        given = [name for name, value in inputs.items() if value is not None]
        raise ValueError(f"the report's {section} section needs {missing} as well as {given}")


def _extra_sections(name: str, extra) -> list[Section]:
    """``[(title, html), ...]`` -> sections; anything else is an error naming the input."""
    if isinstance(extra, str | bytes) or not isinstance(extra, Sequence):
        raise ValueError(f"report input {name} must be a list of (title, html) pairs, got {type(extra).__name__}")
    sections = []
    for position, pair in enumerate(extra):
        if not (isinstance(pair, Sequence) and len(pair) == 2 and all(isinstance(part, str) for part in pair)):
            raise ValueError(f"report input {name}[{position}] must be a (title, html) pair of strings, got {pair!r:.80}")
        sections.append(Section(*pair))
        check_self_contained(sections[-1])
    return sections


def build_summary(
    report: str, all_reports: Mapping[str, Callable[[], str]],
    all_clustering_comparisons: Mapping[str, Callable[[], pd.DataFrame]], reporting_parameters: dict,
) -> str:
    """The summary page of every domain's last run (:func:`irl_inr.reporting.summary.summary_page`),
    refreshed by this domain's run once its ``report`` is built."""
    options = ReportingParameters.from_dict(reporting_parameters)
    return summary_page(options.domain, report, all_reports, all_clustering_comparisons)
