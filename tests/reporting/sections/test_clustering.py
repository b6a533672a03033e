"""The clustering section tells the user how far the clusters depend on the clustering seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irl_inr.reporting.parameters import ReportingParameters
from irl_inr.reporting.sections.clustering import (
    TRUSTED_SPLIT_HALF_ARI,
    clustering_section,
    head_agreement_reading,
)
from tests.reporting.tiny_run import tiny_report_inputs


def with_scan(comparison: pd.DataFrame, repeat: float, heads: float = 0.7) -> pd.DataFrame:
    """The comparison with a SCAN row whose answer repeats from half its heads at ``repeat``
    (split_half_ari) and whose heads agree at ``heads`` (head_agreement_ari)."""
    scan = pd.DataFrame({"method": ["scan"], "acc": [0.9], "nmi": [0.8], "ari": [0.8], "empty_clusters": [0],
                         "train_seconds": [3.0], "head_agreement_ari": [heads], "split_half_ari": [repeat]})
    return pd.concat([comparison, scan], ignore_index=True)


def test_an_answer_that_repeats_reassures_and_one_that_does_not_warns():
    comparison = tiny_report_inputs()["clustering_comparison"]
    text, warn = head_agreement_reading(with_scan(comparison, 0.98, heads=0.93))
    assert not warn and "0.98" in text and "0.93" in text and "hardly depend on the clustering seed" in text
    text, warn = head_agreement_reading(with_scan(comparison, TRUSTED_SPLIT_HALF_ARI - 0.01, heads=0.99))
    assert warn and text.startswith("Distrust these clusters") and "rerun with another clustering.seed" in text


def test_no_reading_without_scans_heads():
    comparison = tiny_report_inputs()["clustering_comparison"]
    assert head_agreement_reading(comparison) is None  # no SCAN in the run
    assert head_agreement_reading(with_scan(comparison, np.nan, np.nan)) is None  # SCAN with one head


def test_the_section_shows_the_agreement_and_its_warning():
    inputs = tiny_report_inputs()
    options = ReportingParameters.from_dict(inputs["reporting_parameters"])
    assignments = inputs["cluster_assignments"].assign(scan=inputs["cluster_assignments"]["kmeans_z"])
    comparison = with_scan(inputs["clustering_comparison"], 0.61)
    section = clustering_section(assignments, comparison, inputs["image_table"], None, None, None, options)
    assert "split_half_ari" in section.body and "0.61" in section.body
    assert "Warning: Distrust these clusters" in section.body
    calm = clustering_section(assignments, with_scan(inputs["clustering_comparison"], 0.99), inputs["image_table"],
                              None, None, None, options)
    assert "Warning: Distrust" not in calm.body and "hardly depend on the clustering seed" in calm.body
