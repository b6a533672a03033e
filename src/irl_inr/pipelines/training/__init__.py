"""Training: a domain's images -> a trained IRL-INR model and its per-epoch history."""

from irl_inr.pipelines.training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
