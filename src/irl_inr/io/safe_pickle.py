"""Pickles of plain NumPy arrays, loaded without running any other code.

A pickle names the functions that rebuild its objects, and ``pickle.load`` calls them:
a file from elsewhere can run anything.  :func:`load_numpy_pickle` resolves only the
few NumPy globals that an array (or a tuple/list/dict of arrays) needs; any other global
is refused with an error naming the file and the global.  Pickles written by NumPy 1.x
name ``numpy.core.multiarray``; NumPy 2 moved it to ``numpy._core``, and both are read.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

# (module, name) -> object. Nothing here can run code beyond building an array.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED_GLOBALS[(_module, "_reconstruct")] = np._core.multiarray._reconstruct
    _ALLOWED_GLOBALS[(_module, "scalar")] = np._core.multiarray.scalar
for _scalar in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                np.uint8, np.uint16, np.uint32, np.uint64, np.bool_):
    _ALLOWED_GLOBALS[("numpy", _scalar.__name__)] = _scalar
for _module in ("numpy.dtypes", "numpy._core.dtypes"):
    for _dtype in ("Float16DType", "Float32DType", "Float64DType", "Int8DType", "Int16DType", "Int32DType",
                   "Int64DType", "UInt8DType", "UInt16DType", "UInt32DType", "UInt64DType", "BoolDType"):
        _ALLOWED_GLOBALS[(_module, _dtype)] = getattr(np.dtypes, _dtype)


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle that asks for something other than NumPy arrays."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, handle, path: Path) -> None:
        super().__init__(handle)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._path}: refused to load global {module}.{name}; only NumPy arrays are allowed"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._path}: refused a persistent id {pid!r}; only NumPy arrays are allowed")


def load_numpy_pickle(path: str | os.PathLike) -> Any:
    """Load a pickle whose objects are NumPy arrays and builtin containers/numbers only.

    Raises :class:`UnsafePickleError` naming the file and the refused global, or naming the
    file for a corrupt or truncated pickle."""
    path = Path(path)
    with open(path, "rb") as handle:
        try:
            return _NumpyOnlyUnpickler(handle, path).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
            raise UnsafePickleError(f"{path}: not a readable pickle of NumPy arrays ({error})") from error
