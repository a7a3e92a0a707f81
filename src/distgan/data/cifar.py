"""CIFAR-10 python batches, unpickled by an allow-list that builds arrays without running pickled code."""

from __future__ import annotations

import io
import math
import pickle
from pathlib import Path

import numpy as np

from distgan.data.dataset import Dataset
from distgan.data.files import one_line, read_capped, require_folder
from distgan.data.split import split_arrays, uint8_image_dataset
from distgan.errors import DistganError

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
MAX_BATCH_BYTES = 1 << 30  # a real batch is ~31 MB
_SPLIT_SEED = 5678
_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "b1"}  # no object dtype
_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}


class _DtypeStub:
    """Stands in for numpy.dtype(code, align, copy); remembers its pickled state instead of running it."""

    def __init__(self, code: object = None, *_: object) -> None:
        self.code, self.state = code, None

    def __setstate__(self, state: object) -> None:
        self.state = state


class _ArrayStub:
    """Stands in for numpy's _reconstruct(ndarray, ...); the array is built later from checked bytes."""

    def __init__(self, *_: object) -> None:
        self.state = None

    def __setstate__(self, state: object) -> None:
        self.state = state


class _ArrayTag:
    """Stands in for the numpy.ndarray class argument of _reconstruct."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only numpy's array reconstructor, ndarray and dtype, mapped to inert stand-ins."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _RECONSTRUCT:
            return _ArrayStub
        if (module, name) == ("numpy", "ndarray"):
            return _ArrayTag
        if (module, name) == ("numpy", "dtype"):
            return _DtypeStub
        what = one_line(f"{module}.{name}", 120)
        raise DistganError(f"refused to load {what}; a CIFAR batch holds only numpy arrays and lists")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) uint8 images and (N,) int64 labels from one CIFAR-10 python batch file."""
    raw = read_capped(path, MAX_BATCH_BYTES)
    try:
        batch = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except DistganError as e:
        raise DistganError(f"{path}: {e}") from None
    except Exception as e:  # untrusted bytes: any failure while unpickling means a bad file
        raise DistganError(
            f"{path}: not a readable CIFAR-10 batch ({type(e).__name__}: {one_line(e)}); re-download it"
        ) from e
    if not isinstance(batch, dict):
        raise DistganError(f"{path}: expected a dict with 'data' and 'labels', found {type(batch).__name__}")
    data = _to_array(path, _get(batch, path, "data"))
    labels = _get(batch, path, "labels")
    labels = _to_array(path, labels) if isinstance(labels, _ArrayStub) else _int_list(path, labels)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DistganError(f"{path}: 'data' is {data.dtype} {data.shape}, expected uint8 (N, 3072)")
    if labels.dtype.kind not in "iu" or labels.ndim != 1 or len(labels) != len(data):
        raise DistganError(f"{path}: {len(data)} images but {labels.size} labels; the batch is damaged")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DistganError(f"{path}: labels must be 0..9, found {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _get(batch: dict, path: Path, key: str) -> object:
    """batch[b'key'] (Python 2 pickles) or batch['key']."""
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise DistganError(f"{path}: no '{key}' entry; is this a CIFAR-10 python batch?")


def _int_list(path: Path, values: object) -> np.ndarray:
    """A list of plain ints as an int64 array."""
    if not isinstance(values, list) or not all(type(v) is int for v in values):
        raise DistganError(f"{path}: 'labels' must be a list of integers")
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError as e:
        raise DistganError(f"{path}: a label does not fit in 64 bits") from e


def _to_array(path: Path, stub: object) -> np.ndarray:
    """An ndarray from an _ArrayStub's state (version, shape, dtype, fortran, bytes), checked first."""
    state = getattr(stub, "state", None) if isinstance(stub, _ArrayStub) else None
    if not (isinstance(state, tuple) and len(state) == 5):
        raise DistganError(f"{path}: a numpy array in the batch is malformed")
    _, shape, dtype_stub, fortran, buf = state
    dtype = _to_dtype(path, dtype_stub)
    if not (isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape) and isinstance(buf, bytes)):
        raise DistganError(f"{path}: a numpy array in the batch has a malformed shape or data")
    if len(buf) != dtype.itemsize * math.prod(shape):
        raise DistganError(f"{path}: an array's shape {shape} does not match its {len(buf)} data bytes")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _to_dtype(path: Path, stub: object) -> np.dtype:
    """A plain numeric dtype from a _DtypeStub, using the byte order in its state."""
    code = getattr(stub, "code", None) if isinstance(stub, _DtypeStub) else None
    state = getattr(stub, "state", None)
    code = code.decode("ascii", "replace") if isinstance(code, bytes) else code
    order = state[1] if isinstance(state, tuple) and len(state) > 1 else "|"
    order = order.decode("ascii", "replace") if isinstance(order, bytes) else order
    if not (isinstance(code, str) and code in _DTYPES and isinstance(order, str) and order in "<>|="):
        raise DistganError(f"{path}: array dtype {one_line(repr(code), 40)} is not a plain numeric type")
    return np.dtype(order + code if order != "|" else code)


def load_cifar10(spec: str, path: str) -> Dataset:
    """cifar10:PATH: data_batch_* -> train, test_batch -> test; if one side is missing, split 80/20."""
    folder = require_folder(path, "cifar10:PATH")
    if not any(_batch_files(folder)) and (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"  # the extracted tarball's top folder
    train_files, test_files = _batch_files(folder)
    if not train_files and not test_files:
        raise DistganError(
            f"{folder}: no CIFAR-10 batches found; expected data_batch_1..5 and test_batch "
            "(extract cifar-10-python.tar.gz there)"
        )
    if train_files and test_files:
        train, test = _read_all(train_files), _read_all(test_files)
    else:
        x, y = _read_all(train_files or test_files)
        train_x, train_y, test_x, test_y = split_arrays(x, y, _SPLIT_SEED)
        train, test = (train_x, train_y), (test_x, test_y)
    return uint8_image_dataset("cifar10", train, test, 10)


def _batch_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The train and test batch files present in `folder`."""
    train = [folder / n for n in TRAIN_BATCHES if (folder / n).is_file()]
    test = [folder / TEST_BATCH] if (folder / TEST_BATCH).is_file() else []
    return train, test


def _read_all(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the images and labels of several batches."""
    batches = [read_batch(f) for f in files]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
