"""The clustering section tells the user how far the clusters depend on the clustering seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irl_inr.reporting.parameters import ReportingParameters
from irl_inr.reporting.sections.clustering import (
    TRUSTED_HEAD_AGREEMENT,
    clustering_section,
    head_agreement_reading,
)
from tests.reporting.tiny_run import tiny_report_inputs


def with_scan(comparison: pd.DataFrame, agreement: float) -> pd.DataFrame:
    """The comparison with a SCAN row whose heads agree at ``agreement`` (mean ARI)."""
    scan = pd.DataFrame({"method": ["scan"], "acc": [0.9], "nmi": [0.8], "ari": [0.8], "empty_clusters": [0],
                         "train_seconds": [3.0], "head_agreement_ari": [agreement]})
    return pd.concat([comparison, scan], ignore_index=True)


def test_heads_that_agree_reassure_and_heads_that_disagree_warn():
    comparison = tiny_report_inputs()["clustering_comparison"]
    text, warn = head_agreement_reading(with_scan(comparison, 0.93))
    assert not warn and "0.93" in text and "hardly depend on the clustering seed" in text
    text, warn = head_agreement_reading(with_scan(comparison, TRUSTED_HEAD_AGREEMENT - 0.01))
    assert warn and text.startswith("Distrust these clusters") and "rerun with another clustering.seed" in text


def test_no_reading_without_an_agreement_of_scans_heads():
    comparison = tiny_report_inputs()["clustering_comparison"]
    assert head_agreement_reading(comparison) is None  # no SCAN heads in the run
    assert head_agreement_reading(with_scan(comparison, np.nan)) is None  # SCAN with one head


def test_the_section_shows_the_agreement_and_its_warning():
    inputs = tiny_report_inputs()
    options = ReportingParameters.from_dict(inputs["reporting_parameters"])
    assignments = inputs["cluster_assignments"].assign(scan=inputs["cluster_assignments"]["kmeans_z"])
    comparison = with_scan(inputs["clustering_comparison"], 0.61)
    section = clustering_section(assignments, comparison, inputs["image_table"], None, None, None, options)
    assert "head_agreement_ari" in section.body and "0.61" in section.body
    assert "Warning: Distrust these clusters" in section.body
    calm = clustering_section(assignments, with_scan(inputs["clustering_comparison"], 0.95), inputs["image_table"],
                              None, None, None, options)
    assert "Warning: Distrust" not in calm.body and "hardly depend on the clustering seed" in calm.body
