"""What a domain is to the rest of the project: the one interface the shared stages,
``predict`` and the new-image reader use, so none of them names a domain.

A domain is a package under ``irl_inr.domains`` that defines ``DOMAIN``, a :class:`Domain`
(listed once, in :data:`irl_inr.domains.DOMAINS`).  It brings:

* its **front end**: a Kedro pipeline from the domain's raw data to ``images`` (N, S, S)
  float32 in [0, 1] and ``image_table`` (one row per image: ``image_id``, ``label``,
  ``split``, the ground-truth pose where it has one); the shared stages read only those;
* its **front end for new images**: a node that writes ``new_image_front_end`` (the
  parameters below, with ``"domain"`` and ``"image_size"``) and the function
  ``prepare_images(batch, front_end)`` that turns a batch as read into the model's input
  with the same functions ingestion uses;
* its **readers**: :class:`ImageReader` classes for its own file formats (PNG is read by
  every domain, :mod:`irl_inr.datasets.new_images`);
* its **parameter sections** (``VALIDATORS``: section name -> ``from_dict``), checked
  under the domain's namespace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from kedro.pipeline import Pipeline


@dataclasses.dataclass(frozen=True)
class RawImageBatch:
    """Images as read: ``pixels`` is an array (B, H, W) (uint8 for idx and png, float32 for
    mrc) or, for wafer maps of different sizes, a list of B uint8 (H, W) arrays of die
    states; ``sources`` names each image's file and place (``file[index]``, ``18@stack.mrcs``,
    ``LSWMD.pkl row 12``, the PNG's path)."""

    format: str
    pixels: np.ndarray | list[np.ndarray]
    sources: list[str]

    def __len__(self) -> int:
        return len(self.sources)


class ImageReader(Protocol):
    """A file format's reader for new images: opened on a path (errors raise
    ``kedro.io.core.DatasetError`` naming the file), it knows how many images the file
    holds (``total``) before reading any and reads them in ranges."""

    format: ClassVar[str]
    reads_folders: ClassVar[bool]  # whether a folder of such files is one input

    def __init__(self, path: Path) -> None: ...

    @staticmethod
    def matches(path: Path) -> bool:
        """Whether ``path``'s name says it is in this format (``format: auto``)."""

    @property
    def total(self) -> int: ...

    def read(self, start: int, stop: int) -> RawImageBatch:
        """Images ``start .. stop - 1`` in file order."""


@dataclasses.dataclass(frozen=True)
class Domain:
    """One domain of images (see the module docstring).

    name: the Kedro namespace of its datasets and parameters, and its pipelines' name.
    front_ends: registered pipeline name -> its front end (``images``, ``image_table``);
    the first, under ``name``, is the main one (its sharded and predict variants).
    new_image_front_end: the ``predict`` pipeline's node writing ``new_image_front_end``.
    prepare_images: (a :class:`RawImageBatch`, ``new_image_front_end``) -> float32 (B, S, S)
    in [0, 1]; a ``ValueError`` for images it cannot take.
    readers: the :class:`ImageReader` of each format of the domain's own files.
    parameters: the domain's front-end parameter sections (name -> ``from_dict``).
    """

    name: str
    front_ends: Mapping[str, Callable[[], Pipeline]]
    new_image_front_end: Callable[[], Pipeline]
    prepare_images: Callable[[RawImageBatch, dict], np.ndarray]
    readers: tuple[type[ImageReader], ...]
    parameters: Mapping[str, Callable[[Any], Any]]

    def __post_init__(self) -> None:
        if next(iter(self.front_ends), None) != self.name:
            raise ValueError(f"domain {self.name!r}: its first front end must be registered under its own name")

    @property
    def formats(self) -> tuple[str, ...]:
        """The formats of new images it takes: its own and PNG."""
        return (*(reader.format for reader in self.readers), "png")
