"""Writers for tiny, valid dataset files (IDX, CIFAR pickles, image folders) used by the data tests."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: magic 0x0000080N, big-endian dims, then the bytes."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def mnist_arrays(n: int, seed: int = 0, rows: int = 28, cols: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """n random uint8 images and labels cycling 0..9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, rows, cols), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def write_idx_pair(folder: Path, prefix: str, n: int, gz: bool = False, seed: int = 0) -> tuple[Path, Path]:
    """Write `{prefix}-images-idx3-ubyte` and `{prefix}-labels-idx1-ubyte` (optionally .gz)."""
    images, labels = mnist_arrays(n, seed)
    paths = []
    for stem, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        path = folder / (stem + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(data) if gz else data)
        paths.append(path)
    return paths[0], paths[1]


def cifar_batch(n: int, seed: int = 0, bytes_keys: bool = True) -> dict:
    """A CIFAR-10-shaped batch dict: uint8 (n, 3072) data and a list of labels."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in np.arange(n) % 10]
    if bytes_keys:
        return {b"batch_label": b"tiny", b"data": data, b"labels": labels}
    return {"data": data, "labels": labels}


def write_cifar_batch(path: Path, n: int, seed: int = 0, protocol: int = 4) -> dict:
    """Pickle a tiny batch to `path` (protocols 3/4 keep numpy on _reconstruct, like real CIFAR)."""
    batch = cifar_batch(n, seed)
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    return batch


def py2_cifar_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """A protocol-2 pickle shaped like Python 2's CIFAR files (byte strings, numpy.core path)."""

    def s(b: bytes) -> bytes:  # SHORT_BINSTRING or BINSTRING
        return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<I", len(b))) + b

    def i(v: int) -> bytes:  # BININT
        return b"J" + struct.pack("<i", v)

    dtype = b"cnumpy\ndtype\n" + s(b"u1") + i(0) + i(1) + b"\x87R(" + i(3) + s(b"|") + b"NNN" + i(-1) + i(-1)
    dtype += i(0) + b"tb"
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + i(0) + b"\x85" + s(b"b") + b"\x87R"
    array += b"(" + i(1) + i(data.shape[0]) + i(data.shape[1]) + b"\x86" + dtype + b"\x89" + s(data.tobytes())
    array += b"tb"
    label_list = b"](" + b"".join(i(v) for v in labels) + b"e"
    return b"\x80\x02}(" + s(b"data") + array + s(b"labels") + label_list + b"u."


def write_image(path: Path, mode: str, size: tuple[int, int] = (20, 12), seed: int = 0) -> None:
    """A random image of the given mode, saved as PNG or JPEG by suffix."""
    rng = np.random.default_rng(seed)
    channels = 3 if mode == "RGB" else 1
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    img = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode=None)
    img.convert(mode).save(path)
