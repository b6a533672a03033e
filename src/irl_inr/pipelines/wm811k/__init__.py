"""WM-811K: wafer maps (LSWMD.pkl, converted once to Parquet) -> fixed-size, rotated images."""

from irl_inr.pipelines.wm811k.pipeline import create_pipeline

__all__ = ["create_pipeline"]
