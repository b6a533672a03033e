"""One NumPy array per ``.npy`` file, written atomically, optionally versioned by Kedro.

``.npy`` rather than ``.npz``: ``np.save`` writes the same bytes for the same array,
so DVC sees an unchanged output as unchanged."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from irl_inr.io.atomic import write_atomically


class NumpyDataset(AbstractVersionedDataset[np.ndarray, np.ndarray]):
    """``type: irl_inr.datasets.NumpyDataset`` with ``filepath: data/....npy``."""

    def __init__(
        self,
        filepath: str,
        mmap: bool = False,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._mmap = mmap
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(filepath), version=version)

    def load(self) -> np.ndarray:
        path = self._get_load_path()
        try:
            return np.load(path, mmap_mode="r" if self._mmap else None, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise DatasetError(f"{path}: not a readable .npy array ({error})") from error

    def save(self, data: np.ndarray) -> None:
        if not isinstance(data, np.ndarray):
            raise DatasetError(f"{self._filepath}: expected a numpy array, got {type(data).__name__}")
        write_atomically(self._get_save_path(), lambda path: _save_npy(path, data))

    def _exists(self) -> bool:
        try:
            return self._get_load_path().exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}

    def _get_load_path(self) -> Path:
        return Path(super()._get_load_path())

    def _get_save_path(self) -> Path:
        return Path(super()._get_save_path())


def _save_npy(path, data: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, data, allow_pickle=False)
