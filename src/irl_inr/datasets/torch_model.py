"""A trained model as ``{"config": dict, "state_dict": ...}``: written atomically,
versioned by Kedro, loaded with ``torch.load(weights_only=True)`` (no pickled code)."""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from irl_inr.io.atomic import write_atomically


class TorchModelDataset(AbstractVersionedDataset[dict, dict]):
    """``type: irl_inr.datasets.TorchModelDataset``; saves and loads a dict holding a
    model's ``state_dict`` and the plain-data ``config`` that rebuilds it."""

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(filepath), version=version)

    def load(self) -> dict:
        path = Path(self._get_load_path())
        try:
            model = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for a damaged file
            raise DatasetError(f"{path}: not a readable model file ({error})") from error
        if not isinstance(model, dict) or not {"config", "state_dict"} <= model.keys():
            raise DatasetError(f"{path}: expected a dict with 'config' and 'state_dict'")
        return model

    def save(self, data: dict) -> None:
        if not isinstance(data, dict) or not {"config", "state_dict"} <= data.keys():
            raise DatasetError(f"{self._filepath}: a model must be saved as a dict with 'config' and 'state_dict'")
        # Serialised in memory first: torch.save names the archive inside the file after
        # the file, and write_atomically's temporary file has a random name, so saving
        # to it directly gave different bytes (a different DVC hash) for the same model.
        buffer = io.BytesIO()
        torch.save(data, buffer)
        write_atomically(Path(self._get_save_path()), lambda path: path.write_bytes(buffer.getvalue()))

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}
