"""MNIST-format IDX files (plain or gzip), parsed with numpy; sizes are checked before any allocation."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from distgan.data.dataset import Dataset
from distgan.data.files import one_line, require_folder
from distgan.data.split import split_arrays, uint8_image_dataset
from distgan.errors import DistganError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dims (count, rows, cols)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dim (count)
MAX_PAYLOAD = 2**32  # far above any MNIST-family file; refuses absurd headers before reading
_CHUNK = 1 << 20
_SPLIT_SEED = 4321
_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path, magic: int) -> np.ndarray:
    """uint8 array with the header's dims; gzip is detected from the content, not the name."""
    gzipped = False
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            if gzipped:
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    return _parse(path, stream, magic, None)
            return _parse(path, raw, magic, os.fstat(raw.fileno()).st_size)
    except (OSError, EOFError, zlib.error) as e:
        what = "corrupt or truncated gzip" if gzipped else "cannot read file"
        raise DistganError(f"{path}: {what} ({one_line(e)}); re-download it") from e


def _parse(path: Path, stream: BinaryIO, magic: int, file_size: int | None) -> np.ndarray:
    """Check magic and dims, compare the claimed payload with what is there, then read it."""
    got = _read_exact(path, stream, 4, "the 4-byte magic number")
    if int.from_bytes(got, "big") != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise DistganError(
            f"{path}: wrong magic number 0x{got.hex()} (expected 0x{magic:08x} for IDX {kind}); "
            "is it the right file, e.g. images vs labels?"
        )
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", _read_exact(path, stream, 4 * ndim, f"{ndim} dimension sizes"))
    if 0 in dims:
        raise DistganError(f"{path}: header gives a zero dimension {dims}; the file holds no data")
    payload = math.prod(dims)
    if payload > MAX_PAYLOAD:
        raise DistganError(f"{path}: header claims {payload} bytes of data, over the {MAX_PAYLOAD}-byte limit")
    if file_size is not None and file_size - 4 - 4 * ndim != payload:
        raise DistganError(
            f"{path}: header claims {payload} bytes of data but the file has {file_size - 4 - 4 * ndim}; "
            "the file is truncated or not IDX, re-download it"
        )
    return np.frombuffer(_read_payload(path, stream, payload), dtype=np.uint8).reshape(dims)


def _read_exact(path: Path, stream: BinaryIO, n: int, what: str) -> bytes:
    """Exactly n bytes, or a DistganError saying the header is truncated."""
    data = stream.read(n)
    if len(data) != n:
        raise DistganError(f"{path}: truncated: file ends inside {what}; re-download it")
    return data


def _read_payload(path: Path, stream: BinaryIO, payload: int) -> bytes:
    """Read in chunks so a header claiming more than is present never allocates the claimed size."""
    chunks, total = [], 0
    while total <= payload:
        chunk = stream.read(min(_CHUNK, payload + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total != payload:
        found = f"{total}" if total < payload else f"more than {payload}"
        raise DistganError(f"{path}: header claims {payload} bytes of data but the file holds {found}; re-download it")
    return b"".join(chunks)


def load_idx_folder(spec: str, path: str) -> Dataset:
    """mnist:PATH / fashion-mnist:PATH: train -> train, t10k -> test; one pair alone is split 80/20."""
    folder = require_folder(path, spec.split(":", 1)[0] + ":PATH")
    pairs = {}
    for split, (image_stem, label_stem) in _STEMS.items():
        images, labels = _find(folder, image_stem), _find(folder, label_stem)
        if images is None and labels is None:
            continue
        if images is None or labels is None:
            have, missing = (images, label_stem) if labels is None else (labels, image_stem)
            raise DistganError(f"{have}: found this file but not its partner {missing}[.gz] in {folder}; add it")
        pairs[split] = _read_pair(images, labels)
    if not pairs:
        names = ", ".join(name for stems in _STEMS.values() for name in stems)
        raise DistganError(f"{folder}: no IDX files found; expected {names} (each optionally .gz)")
    if len(pairs) == 2:
        train, test = pairs["train"], pairs["test"]
        if train[0].shape[1:] != test[0].shape[1:]:
            raise DistganError(
                f"{folder}: train images are {train[0].shape[2:]} but t10k images are {test[0].shape[2:]}; "
                "use files from the same dataset"
            )
    else:
        ((x, y),) = pairs.values()
        train_x, train_y, test_x, test_y = split_arrays(x, y, _SPLIT_SEED)
        train, test = (train_x, train_y), (test_x, test_y)
    # MNIST-family files have 10 classes; a larger label (e.g. EMNIST) widens it.
    num_classes = max(10, int(max(train[1].max(), test[1].max())) + 1)
    return uint8_image_dataset(spec.split(":", 1)[0], train, test, num_classes)


def _find(folder: Path, stem: str) -> Path | None:
    """The file for `stem`, accepting `.gz` and the dotted `train-images.idx3-ubyte` spelling."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, rows, cols) images and (N,) labels whose counts agree."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DistganError(
            f"{images_path}: has {len(images)} images but {labels_path.name} has {len(labels)} labels; "
            "use matching files"
        )
    return images[:, None, :, :], labels.astype(np.int64)
