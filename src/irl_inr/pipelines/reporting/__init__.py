"""Reporting: every stage's metrics merged into one flat ``metrics.json``."""

from irl_inr.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
