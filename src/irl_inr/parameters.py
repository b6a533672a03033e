"""The base of every parameter section in ``conf/base/parameters_*.yml``.

Each section is a frozen dataclass, defined in the ``parameters`` module of the pipeline
that reads it; an unknown key, a value of the wrong type (each field is checked against
its annotation) or a value out of range is a ``ValueError`` that names the parameter
(``augmentation.max_shift_pixels = 'abc': must be a number``). The sections are
registered in :mod:`irl_inr.parameter_registry`, which the project hook reads to validate
every section a pipeline uses before its first node runs; nodes build the same
dataclasses from the dicts they receive. A section that depends on the images (their
labels, their number) says so in ``check_images``, which :mod:`irl_inr.data_checks` runs
as soon as a domain's table of images exists, before anything is trained."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    import pandas as pd


def is_int(value: Any) -> bool:
    """An integer, and not a bool (YAML's true/false are not numbers here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float, and not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def type_problem(value: Any, annotation: Any) -> str | None:
    """What is wrong with ``value`` for a field annotated ``annotation`` (``int``,
    ``float``, ``bool``, ``str``, ``list``, ``dict``, a :class:`Parameters` section,
    ``X | None``, ``Any``), or None when it fits."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in arguments:
            return None
        problems = [type_problem(value, argument) for argument in arguments if argument is not type(None)]
        if None in problems:
            return None
        wanted = " or ".join(problem.removeprefix("must be ") for problem in problems)
        return f"must be {wanted}" + (" or null" if type(None) in arguments else "")
    kind = origin or annotation
    if kind is Any:
        return None
    if kind is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if kind is int:
        return None if is_int(value) else "must be an integer"
    if kind is float:
        return None if is_number(value) else "must be a finite number"
    if kind is str:
        return None if isinstance(value, str) else "must be a string"
    if kind in (list, tuple):
        return None if isinstance(value, list | tuple) else "must be a list"
    if kind is dict:
        return None if isinstance(value, Mapping) else "must be a mapping"
    if isinstance(kind, type) and issubclass(kind, Parameters):
        return None if value is None or isinstance(value, Mapping | kind) else "must be a mapping"
    raise TypeError(f"no type check for the annotation {annotation!r}")


@dataclasses.dataclass(frozen=True)
class ImageRequirement:
    """A section's need for images: ``parameter`` (its name in the section, e.g.
    ``clustering.mining.neighbours``) with ``value`` needs at least ``minimum`` images of
    ``split`` ('all', 'train' or 'test'), for the reason ``why``."""

    parameter: str
    value: Any
    split: str
    minimum: int
    why: str


@dataclasses.dataclass(frozen=True)
class Parameters:
    """Base: ``from_dict`` rejects unknown keys and values whose type does not fit the
    field's annotation; subclasses check ranges in ``check``."""

    section = "parameters"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> Self:
        values = dict(values or {})
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{cls.section}: unknown parameter(s) {unknown}; known: {sorted(known)}")
        try:
            instance = cls(**values)
        except TypeError as error:
            raise ValueError(f"{cls.section}: {error}") from error
        instance.check_types()
        instance.check()
        return instance

    def check_types(self) -> None:
        """Raise ``ValueError`` naming the first field whose value does not fit its annotation."""
        annotations = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            problem = type_problem(getattr(self, field.name), annotations[field.name])
            if problem is not None:
                self.fail(field.name, problem)

    def check(self) -> None:
        """Raise ``ValueError`` naming the parameter that is out of range."""

    def check_images(self, table: pd.DataFrame) -> list[ImageRequirement]:
        """Check the section against a domain's table of images (one row per image, with
        ``label`` and ``split``) before any of them is trained on: raise ``ValueError``
        naming the parameter that does not fit the labels; return what the section needs
        of the image counts (checked together by :mod:`irl_inr.data_checks`)."""
        return []

    def check_int(self, name: str, minimum: int) -> None:
        """``name`` must be an integer of at least ``minimum``."""
        value = getattr(self, name)
        if not is_int(value):
            self.fail(name, "must be an integer")
        if value < minimum:
            self.fail(name, f"must be at least {minimum}")

    def check_number(
        self, name: str, low: float | None = None, high: float | None = None, *, open_low: bool = False,
        open_high: bool = False,
    ) -> None:
        """``name`` must be a finite number in [``low``, ``high``] (bounds open when asked)."""
        value = getattr(self, name)
        if not is_number(value):
            self.fail(name, "must be a finite number")
        if low is not None and (value < low or (open_low and value == low)):
            self.fail(name, f"must be {'>' if open_low else '>='} {low}")
        if high is not None and (value > high or (open_high and value == high)):
            self.fail(name, f"must be {'<' if open_high else '<='} {high}")

    def check_bool(self, name: str) -> None:
        """``name`` must be true or false."""
        if not isinstance(getattr(self, name), bool):
            self.fail(name, "must be true or false")

    def fail(self, name: str, problem: str) -> None:
        raise ValueError(f"{self.section}.{name} = {getattr(self, name)!r}: {problem}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


