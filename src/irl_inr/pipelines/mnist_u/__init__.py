"""MNIST-U: MNIST digits (IDX files or the embedded 5,000) -> rotated and shifted images."""

from irl_inr.pipelines.mnist_u.pipeline import create_pipeline

__all__ = ["create_pipeline"]
