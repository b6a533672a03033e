"""Kedro datasets every domain shares (a domain's own live in its package, ``irl_inr.domains.<name>.datasets``)."""

from irl_inr.datasets.numpy_array import NumpyDataset
from irl_inr.datasets.torch_model import TorchModelDataset

__all__ = ["NumpyDataset", "TorchModelDataset"]
