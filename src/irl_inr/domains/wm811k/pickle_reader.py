"""Reading a WM-811K wafer table (``LSWMD.pkl`` or a copy of it) through a restricted unpickler.

The dataset is published as a pickled pandas DataFrame, and a pickle runs code when it is
loaded: it names the functions that rebuild its objects and ``pickle.load`` calls them.
:class:`WaferUnpickler` therefore resolves only the globals in :data:`ALLOWED_GLOBALS`
(anything else is a :class:`RefusedGlobalError` naming the file and the global, and so
is a pickle that sets attributes of an allowed class or function, which would change it
for the whole process, rather than of an object it built) and is only ever given the path
the user configured.  The list holds what a plain DataFrame of
the LSWMD layout names when it was pickled by

* the old pandas under Python 2 that wrote the published file: its byte strings need
  ``encoding="latin1"``, its indexes live in ``pandas.indexes`` (now
  ``pandas.core.indexes``, ``Int64Index`` is now ``Index``) and its arrays in ``numpy.core``;
* pandas 2.x (object columns, an ``Index`` or a ``RangeIndex``; ``numpy.core`` or
  ``numpy._core`` names), such as the real files in ``../shared/data/wm811k``;
* pandas 3.x, whose default ``str`` dtype keeps the column labels and any text column as
  Arrow strings (``ArrowStringArray``), or as Python strings (``StringArray``) where
  pyarrow is not installed.

pyarrow rebuilds a pickled array from its raw buffers without checking them, so a crafted
file could hand pandas offsets that point outside their buffer.  The three pyarrow names
that a pickled string array uses are resolved to the checks in this module instead: Arrow
string types only, buffers copied from bytes, and Arrow's full validation (offsets within
the data, valid UTF-8, a consistent null bitmap) before anything reads the array.  A value
these checks refuse is a :class:`RefusedValueError`, reported with the file's name.

Memory: the file is streamed twice and never read whole.  A pickler memoises nearly every
object it writes (Python 2 every array's raw bytes, as a string, and the tuples around
them) and a plain unpickler keeps them all until the end, about as much memory again as
the maps; a first pass over the opcodes finds the few memo entries the pickle reads back,
and the unpickler keeps only those.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import pickletools
import struct
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from pandas.compat import pickle_compat

logger = logging.getLogger(__name__)

_HERE = __name__  # the checks below stand in for some pyarrow and pandas globals

# (module, name) as a pickle may spell it -> (module, name) of what it resolves to.
ALLOWED_GLOBALS: dict[tuple[str, str], tuple[str, str]] = {
    # numpy arrays, dtypes and scalars (numpy.core is numpy._core since numpy 2)
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    # the DataFrame, its block manager and blocks
    ("pandas.core.frame", "DataFrame"): ("pandas.core.frame", "DataFrame"),
    ("pandas", "DataFrame"): ("pandas.core.frame", "DataFrame"),
    ("pandas.core.internals", "BlockManager"): ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.managers", "BlockManager"): ("pandas.core.internals.managers", "BlockManager"),
    ("pandas._libs.internals", "_unpickle_block"): ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.core.internals.blocks", "new_block"): ("pandas._libs.internals", "_unpickle_block"),
    # indexes, under their pandas 0.x names too
    ("pandas.core.indexes.base", "_new_Index"): ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.base", "Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas", "Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"): ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas", "RangeIndex"): ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas.core.indexes.numeric", "Int64Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.indexes.base", "_new_Index"): ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.indexes.base", "Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.indexes.range", "RangeIndex"): ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas.indexes.numeric", "Int64Index"): ("pandas.core.indexes.base", "Index"),
    # block placements are slices
    ("builtins", "slice"): ("builtins", "slice"),
    ("__builtin__", "slice"): ("builtins", "slice"),
    # pandas 3's ``str`` dtype, pickled as StringDtype(storage, na_value): a dtype object that
    # only checks its two arguments ("python"/"pyarrow", NaN); it builds nothing else.
    ("pandas", "StringDtype"): ("pandas", "StringDtype"),
    # The Arrow-backed ``str`` array (column labels, lotName, flat label columns), rebuilt by
    # NEWOBJ and __setstate__, which wraps the already-checked Arrow array below in a
    # ChunkedArray and sets attributes on the new instance only.
    ("pandas.arrays", "ArrowStringArray"): ("pandas.arrays", "ArrowStringArray"),
    # Its data.  These three pyarrow functions resolve to the checks in this module, never to
    # pyarrow itself: pyarrow's _restore_array trusts the buffers' offsets (see the docstring).
    ("pyarrow.lib", "type_for_alias"): (_HERE, "arrow_string_type"),
    ("pyarrow.lib", "py_buffer"): (_HERE, "arrow_buffer"),
    ("pyarrow.lib", "_restore_array"): (_HERE, "checked_arrow_string_array"),
    # The ``str`` array without pyarrow (Python storage): an object ndarray of str, rebuilt by
    # Cython's pickle helper for NDArrayBacked, resolved to a check that allows this class only.
    ("pandas.arrays", "StringArray"): ("pandas.arrays", "StringArray"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"): (_HERE, "unpickle_string_array"),
}

# Columns of LSWMD.pkl that the conversion reads (``trianTestLabel`` is spelt so).
REQUIRED_COLUMNS = ("waferMap", "dieSize", "lotName", "waferIndex", "trianTestLabel", "failureType")
_READ_BUFFER_BYTES = 1 << 20
# What a damaged pickle makes the unpickler or an allowed global raise (pickle.PickleError
# includes Cython's checksum error; RuntimeError includes RecursionError and pandas'
# NotImplementedError for an unknown state); each becomes one WaferFormatError naming the file.
_DAMAGED_PICKLE_ERRORS = (
    pickle.PickleError, EOFError, ValueError, TypeError, AttributeError, LookupError, ArithmeticError, RuntimeError,
    struct.error,
)


class RefusedGlobalError(pickle.UnpicklingError):
    """The pickle names a global outside :data:`ALLOWED_GLOBALS`, or hands one of the
    checked globals (pyarrow's, pandas' NDArrayBacked helper) what a wafer table never holds."""


class WaferFormatError(ValueError):
    """The file is not a WM-811K wafer table, or one of its rows is damaged."""


class RefusedValueError(ValueError):
    """A checked global was handed something a wafer table never holds; raised during
    unpickling, where the file is not known: :func:`read_wafer_frame` reports it as a
    :class:`RefusedGlobalError` naming the file."""


# ------------------------------------------------------------- checks that stand in for globals

_ARROW_STRING_ALIASES = frozenset({"string", "large_string"})  # str() of pa.string(), pa.large_string()


def arrow_string_type(alias: Any) -> pa.DataType:
    """``pyarrow.lib.type_for_alias`` for the two Arrow string types; any other is refused."""
    if not isinstance(alias, str) or alias not in _ARROW_STRING_ALIASES:
        raise RefusedValueError(
            f"pyarrow.lib.type_for_alias({alias!r}): a wafer table holds Arrow strings only "
            f"({', '.join(sorted(_ARROW_STRING_ALIASES))})"
        )
    return pa.type_for_alias(alias)


def arrow_buffer(data: Any) -> pa.Buffer:
    """``pyarrow.lib.py_buffer`` for bytes and bytearrays (what a pickled Arrow buffer holds).
    The bytes are copied, so no other object of the pickle can change them after the array
    built on them was validated."""
    if not isinstance(data, (bytes, bytearray)):
        raise RefusedValueError(f"pyarrow.lib.py_buffer of a {type(data).__name__}: expected bytes")
    return pa.py_buffer(bytes(data))


def checked_arrow_string_array(data: Any) -> pa.Array:
    """``pyarrow.lib._restore_array`` for a plain string array: a string type, three
    buffers (validity or None, offsets, characters), no children and no dictionary, then
    Arrow's full validation, so offsets outside the data or invalid UTF-8 are refused."""
    if not isinstance(data, tuple) or len(data) != 7:
        raise RefusedValueError(f"pyarrow.lib._restore_array of a {type(data).__name__}: expected a 7-field tuple")
    dtype, length, null_count, offset, buffers, children, dictionary = data
    if not isinstance(dtype, pa.DataType) or not (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)):
        raise RefusedValueError(f"pyarrow.lib._restore_array of type {dtype!r}: a wafer table holds Arrow strings only")
    if not all(isinstance(number, int) for number in (length, null_count, offset)):
        raise RefusedValueError("pyarrow.lib._restore_array: length, null count and offset must be integers")
    if not isinstance(children, list) or children or dictionary is not None:
        raise RefusedValueError("pyarrow.lib._restore_array: a string array has no children and no dictionary")
    if (
        not isinstance(buffers, list)
        or len(buffers) != 3
        or not (buffers[0] is None or isinstance(buffers[0], pa.Buffer))
        or not all(isinstance(buffer, pa.Buffer) for buffer in buffers[1:])
    ):
        raise RefusedValueError("pyarrow.lib._restore_array: a string array has 3 buffers (validity, offsets, data)")
    array = pa.lib._restore_array(data)
    try:
        array.validate(full=True)
    except pa.ArrowException as error:
        raise RefusedValueError(f"pyarrow.lib._restore_array of an invalid string array: {error}") from None
    return array


def unpickle_string_array(cls: Any, checksum: Any, state: Any) -> pd.arrays.StringArray:
    """pandas' ``__pyx_unpickle_NDArrayBacked`` (Cython's pickle helper for its ndarray-backed
    arrays) for ``StringArray`` only; its state is type-checked by the helper (an ndarray)."""
    if cls is not pd.arrays.StringArray:
        raise RefusedValueError(f"pandas._libs.arrays.__pyx_unpickle_NDArrayBacked of {cls!r}: StringArray only")
    helper = getattr(importlib.import_module("pandas._libs.arrays"), "__pyx_unpickle_NDArrayBacked")
    return helper(cls, checksum, state)


# ------------------------------------------------------------------------- the unpickler


class _SelectiveMemo(dict):
    """The unpickler's memo, keeping only the entries the pickle reads back.

    A pickler memoises nearly every object it writes (Python 2 every array's raw bytes
    and the tuples around them), and the memo keeps them all alive to the end: for
    LSWMD.pkl about as much memory again as the file.  ``len`` counts every key ever
    assigned, as protocol 4's MEMOIZE numbers entries by it."""

    def __init__(self, fetched: frozenset[int]) -> None:
        super().__init__()
        self._fetched = fetched
        self._size = 0

    def __setitem__(self, key: int, value: Any) -> None:
        self._size = max(self._size, key + 1)
        if key in self._fetched:
            super().__setitem__(key, value)

    def __len__(self) -> int:
        return self._size


_GET_OPCODES = frozenset({"GET", "BINGET", "LONG_BINGET"})


def fetched_memo_keys(handle) -> frozenset[int]:
    """The memo keys a pickle reads back (GET opcodes), found by scanning its opcodes
    from ``handle`` without building any object."""
    return frozenset(arg for opcode, arg, _ in pickletools.genops(handle) if opcode.name in _GET_OPCODES)


class WaferUnpickler(pickle_compat.Unpickler):
    """pandas' compatibility unpickler (old block managers, moved classes) restricted to
    :data:`ALLOWED_GLOBALS`, reading Python 2 strings as latin-1 and memoising only
    ``fetched`` keys (see :func:`fetched_memo_keys`).

    BUILD (set an object's state) is refused on a class or on a global it handed out: a
    pickle fills in the objects it builds, while setting attributes of, say, ``pandas.Index``
    would change that class for the rest of the process."""

    dispatch = pickle_compat.Unpickler.dispatch.copy()

    def __init__(self, handle, path: str | os.PathLike, fetched: frozenset[int]) -> None:
        super().__init__(handle, encoding="latin1")
        self.path = Path(path)
        self.memo = _SelectiveMemo(fetched)
        self._globals: dict[int, str] = {}  # id of each global handed out -> its name

    def find_class(self, module: str, name: str) -> Any:
        target = ALLOWED_GLOBALS.get((module, name))
        if target is None:
            raise RefusedGlobalError(
                f"{self.path}: refused to load the global {module}.{name}: a WM-811K pickle needs only the numpy "
                f"and pandas classes in irl_inr.domains.wm811k.pickle_reader.ALLOWED_GLOBALS"
            )
        resolved = getattr(importlib.import_module(target[0]), target[1])
        self._globals[id(resolved)] = f"{module}.{name}"
        return resolved

    def load_build(self) -> None:
        target = self.stack[-2]  # [..., object, state]
        if isinstance(target, type) or id(target) in self._globals:
            name = self._globals.get(id(target), getattr(target, "__qualname__", type(target).__name__))
            raise RefusedGlobalError(
                f"{self.path}: refused to set attributes of the global {name}: a pickle may only fill in objects "
                f"it built"
            )
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build


def read_wafer_frame(path: str | os.PathLike) -> pd.DataFrame:
    """Unpickle the wafer DataFrame at ``path`` with :class:`WaferUnpickler`, streaming
    from the file; checks that it is a DataFrame holding :data:`REQUIRED_COLUMNS`."""
    path = Path(path)
    try:
        with open(path, "rb", buffering=_READ_BUFFER_BYTES) as handle:
            fetched = fetched_memo_keys(handle)
            handle.seek(0)
            frame = WaferUnpickler(handle, path, fetched).load()
    except RefusedGlobalError:
        raise
    except RefusedValueError as error:
        raise RefusedGlobalError(f"{path}: refused {error}") from error
    except _DAMAGED_PICKLE_ERRORS as error:
        raise WaferFormatError(f"{path}: not a readable WM-811K pickle ({type(error).__name__}: {error})") from error
    if not isinstance(frame, pd.DataFrame):
        raise WaferFormatError(f"{path}: expected a pickled pandas DataFrame, found {type(frame).__name__}")
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise WaferFormatError(
            f"{path}: missing column(s) {missing}; found {[str(column) for column in frame.columns]}, "
            f"expected {list(REQUIRED_COLUMNS)}"
        )
    extra = [str(column) for column in frame.columns if column not in REQUIRED_COLUMNS]
    if extra:
        logger.info("%s: ignoring column(s) that WM-811K does not define: %s", path, extra)
    return frame
