"""Cryo-EM particles (simulated from a density, or a RELION stack) as a domain of irl-inr."""

from irl_inr.pipelines.cryo_em.pipeline import create_pipeline

__all__ = ["create_pipeline"]
