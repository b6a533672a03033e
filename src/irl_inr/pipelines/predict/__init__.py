"""Prediction on new images with a domain's trained models (issue #8): cluster,
confidence, pose, canonical image and a novelty flag per image, streamed in batches."""

from irl_inr.pipelines.predict.pipeline import create_pipeline

__all__ = ["create_pipeline"]
