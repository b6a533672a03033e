"""The report's own datasets: the HTML report (one UTF-8 page per file, written
atomically, optionally versioned, and previewed by kedro-viz: ``kedro viz build
--include-previews`` shows the page in the dataset's side panel), and the provenance of a
run (git commit, ``dvc.lock``, package versions, data source fingerprints), read when the
report is built."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any, NewType

from kedro.io.core import AbstractDataset, AbstractVersionedDataset, DatasetError, Version

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
        """The page, or nothing before a run has written one (kedro-viz then shows no preview)."""
        return HTMLPreview(self.load()) if self._exists() else None

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}


# Distributions whose versions shaped a run's numbers (the report's provenance block).
PACKAGES = (
    "irl_inr", "torch", "numpy", "scipy", "scikit-learn", "pandas", "faiss-cpu", "mlxtend", "mrcfile", "kedro",
    "kedro-datasets", "matplotlib", "dvc",
)
# Files up to this size are hashed whole; larger ones by their first and last block and size.
WHOLE_HASH_BYTES = 512 * 2**20
EDGE_BYTES = 16 * 2**20


class ProvenanceDataset(AbstractDataset[None, dict]):
    """What produced a run, read when the report is built: the git commit and whether the
    checkout had uncommitted changes, the hash of ``dvc.lock``, the Python and package
    versions, and a fingerprint (size and SHA-256) of every file of each data source.

    ``type: irl_inr.reporting.dataset.ProvenanceDataset`` with ``sources``: a mapping of
    a name to a file or folder (relative to the project folder; ``null`` when the source
    is not used, e.g. the built-in phantom instead of a map); ``project_dir`` defaults to
    the working directory (Kedro runs from the project folder). Read-only."""

    def __init__(
        self, sources: dict[str, str | None] | None = None, project_dir: str = ".", packages: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._sources = dict(sources or {})
        self._project_dir = Path(project_dir)
        self._packages = tuple(packages or PACKAGES)
        self.metadata = metadata

    def load(self) -> dict:
        return {
            "git": _git_state(self._project_dir),
            "dvc_lock": _file_digest(self._project_dir / "dvc.lock"),
            "python": platform.python_version(),
            "packages": {name: _version(name) for name in self._packages},
            "data_sources": {name: _fingerprint(self._project_dir, path) for name, path in self._sources.items()},
        }

    def save(self, data: dict) -> None:
        raise DatasetError("ProvenanceDataset is read-only: it describes the checkout and the data sources")

    def _describe(self) -> dict[str, Any]:
        return {"sources": self._sources}


def _git_state(folder: Path) -> dict[str, str | bool]:
    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=folder, capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown (not a git checkout, or git is missing)", "dirty": False}
    return {"commit": commit, "dirty": bool(changed)}


def _file_digest(path: Path) -> str:
    """SHA-256 (first 16 hex digits) of a file, ``absent`` when there is none."""
    if not path.is_file():
        return "absent"
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size <= WHOLE_HASH_BYTES:
            for block in iter(lambda: handle.read(2**20), b""):
                digest.update(block)
        else:  # a large file: its size, first and last blocks
            digest.update(str(size).encode())
            digest.update(handle.read(EDGE_BYTES))
            handle.seek(size - EDGE_BYTES)
            digest.update(handle.read(EDGE_BYTES))
            return f"{digest.hexdigest()[:16]} (size, first and last {EDGE_BYTES >> 20} MiB)"
    return digest.hexdigest()[:16]


def _fingerprint(project_dir: Path, path: str | None) -> str:
    """``not used`` (no path), ``absent``, or per file ``name: size bytes, sha256 …``."""
    if not path:
        return "not used"
    location = Path(path) if Path(path).is_absolute() else project_dir / path
    if location.is_file():
        files = [location]
    elif location.is_dir():
        files = sorted(file for file in location.rglob("*") if file.is_file() and not file.name.startswith("."))
        files = [file for file in files if file.suffix != ".md"]  # the folder's own README
    else:
        return f"{path}: absent"
    if not files:
        return f"{path}: empty folder"
    return "; ".join(
        f"{file.relative_to(location.parent) if location.is_dir() else path}: {file.stat().st_size} bytes, "
        f"sha256 {_file_digest(file)}" for file in files
    )


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
