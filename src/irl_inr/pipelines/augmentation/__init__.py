"""Augmentation: digits -> MNIST-U (padded, rotated, shifted) with the ground-truth pose kept."""

from irl_inr.pipelines.augmentation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
