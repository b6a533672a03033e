"""Clustering: SCAN (mining, heads, self-labelling) on the IRL-INR encoder against k-means
and DTI, on the same images: assignments, one comparison table, metrics and figures."""

from irl_inr.pipelines.clustering.pipeline import create_pipeline

__all__ = ["create_pipeline"]
