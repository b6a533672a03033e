"""The HTML report as a Kedro dataset: one UTF-8 page per file, written atomically,
optionally versioned, and previewed by kedro-viz (``kedro viz build --include-previews``
shows the page in the dataset's side panel)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, NewType

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from irl_inr.io.atomic import write_atomically

# kedro-viz picks a preview's renderer by the name of ``preview``'s return type
# (kedro-datasets spells the same types in its private ``_typing`` module).
HTMLPreview = NewType("HTMLPreview", str)


class HtmlReportDataset(AbstractVersionedDataset[str, str]):
    """``type: irl_inr.reporting.dataset.HtmlReportDataset`` with ``filepath: ....html``."""

    def __init__(self, filepath: str, version: Version | None = None, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(filepath), version=version)

    def load(self) -> str:
        path = Path(self._get_load_path())
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise DatasetError(f"{path}: not a readable UTF-8 HTML page ({error})") from error

    def save(self, data: str) -> None:
        if not isinstance(data, str):
            raise DatasetError(f"{self._filepath}: expected the page as a str, got {type(data).__name__}")
        write_atomically(Path(self._get_save_path()), lambda path: path.write_text(data, encoding="utf-8"))

    def preview(self) -> HTMLPreview:
        return HTMLPreview(self.load())

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}
