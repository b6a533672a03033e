"""Embedding: a trained IRL-INR -> codes, poses, reconstructions, canonical images, metrics."""

from irl_inr.pipelines.embedding.pipeline import create_pipeline

__all__ = ["create_pipeline"]
