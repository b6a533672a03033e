"""WM-811K's ``LSWMD.pkl``, read once through the restricted unpickler and kept as
Parquet (see :mod:`irl_inr.domains.wm811k.conversion`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from irl_inr.domains.wm811k.conversion import RefusedGlobalError, WaferFormatError, convert_unless_current, read_converted

logger = logging.getLogger(__name__)

WHERE_TO_GET_IT = (
    "WM-811K is published by the MIR lab (Jyh-Shing Roger Jang, National Taiwan University) as the "
    "MIR-WM811K dataset; its Python version holds LSWMD.pkl (about 2 GB). Cite Wu, Jang & Chen, "
    "'Wafer Map Failure Pattern Recognition and Similarity Ranking for Large-Scale Data Sets', "
    "IEEE Trans. Semiconductor Manufacturing 28(1), 2015, and keep the dataset's readme with any copy."
)


class WaferPickleDataset(AbstractDataset[None, dict]):
    """Read-only.  Loads ``{"table": DataFrame, "maps": list of uint8 (H, W), "source": str}``
    (the columns of :func:`irl_inr.domains.wm811k.conversion.read_converted`; one map per table row).

    ``filepath`` is the pickle, the only one this dataset ever unpickles.  The first load
    converts it to ``converted_filepath`` (Parquet, replaced atomically once the conversion
    succeeded); later loads read that file as long as the pickle's content is the one it was
    converted from (the SHA-256 of the whole pickle, hashed on every load: about 2.5 s for
    the 2 GB ``LSWMD.pkl`` in the page cache, 5-20 s from disk), and convert again otherwise.  A
    refused or damaged pickle is one DatasetError naming it, and leaves the Parquet file as
    it was."""

    def __init__(
        self,
        filepath: str,
        converted_filepath: str,
        rows_per_group: int = 20_000,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if rows_per_group < 1:
            raise DatasetError(f"WaferPickleDataset: rows_per_group must be positive, got {rows_per_group}")
        self._filepath = Path(filepath)
        self._converted = Path(converted_filepath)
        self._rows_per_group = rows_per_group
        self.metadata = metadata

    def load(self) -> dict:
        if not self._filepath.is_file():
            raise DatasetError(
                f"WM-811K pickle not found at {self._filepath}. Put LSWMD.pkl at data/01_raw/wm811k/LSWMD.pkl "
                f"or name it with --params wm811k_pickle=<path>. {WHERE_TO_GET_IT}"
            )
        try:
            if not convert_unless_current(self._filepath, self._converted, self._rows_per_group):
                logger.info("WM-811K: reading %s (converted from %s, same SHA-256)", self._converted, self._filepath)
            table, maps = read_converted(self._converted)
        except (RefusedGlobalError, WaferFormatError) as error:
            raise DatasetError(str(error)) from error
        return {"table": table, "maps": maps, "source": str(self._filepath)}

    def save(self, data: None) -> None:
        raise DatasetError("WaferPickleDataset is read-only: raw data is never overwritten")

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "converted_filepath": str(self._converted)}
