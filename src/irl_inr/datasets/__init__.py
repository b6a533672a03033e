"""Kedro datasets of this project: thin wrappers over ``irl_inr.io``."""

from irl_inr.datasets.mnist import MnistDataset
from irl_inr.datasets.numpy_array import NumpyDataset
from irl_inr.datasets.torch_model import TorchModelDataset

__all__ = ["MnistDataset", "NumpyDataset", "TorchModelDataset"]
