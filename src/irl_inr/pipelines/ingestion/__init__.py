"""Ingestion: raw MNIST (IDX files or the embedded digits) -> checked digits and their table."""

from irl_inr.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
