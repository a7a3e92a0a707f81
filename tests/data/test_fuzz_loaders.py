"""Fuzz the local loaders: damaged IDX, gzip, CIFAR and image files load or raise DistganError, only."""

from __future__ import annotations

import gzip
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from data_samples import cifar_batch, idx_bytes, mnist_arrays, py2_cifar_pickle, write_image
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distgan.data.registry import load_dataset
from distgan.errors import DistganError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_IMAGES, _LABELS = mnist_arrays(6, rows=4, cols=3)
IDX_IMAGES = idx_bytes(_IMAGES)
IDX_LABELS = idx_bytes(_LABELS)
_BATCH = cifar_batch(2)
CIFAR_P4 = pickle.dumps(_BATCH, protocol=4)
CIFAR_PY2 = py2_cifar_pickle(_BATCH[b"data"], _BATCH[b"labels"])


def _png_bytes(mode: str, suffix: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        write_image(path, mode, size=(9, 7))
        return path.read_bytes()


PNG = _png_bytes("RGB", ".png")
JPEG = _png_bytes("L", ".jpg")


@st.composite
def damaged(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with some bytes overwritten (often in the header), maybe cut short, or pure noise."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    data = bytearray(original)
    position = st.one_of(st.integers(0, min(40, len(data) - 1)), st.integers(0, len(data) - 1))
    for where, value in draw(st.lists(st.tuples(position, st.integers(0, 255)), max_size=6)):
        data[where] = value
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return bytes(data if cut is None else data[:cut])


def _load_or_refuse(write: Callable[[Path], None], prefix: str) -> None:
    """Write the files, load them; DistganError is the only acceptable failure."""
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp))
        try:
            data = load_dataset(f"{prefix}:{tmp}")
        except DistganError as e:
            assert "\n" not in str(e)
            return
        assert data.train_x.min() >= -1 and data.train_x.max() <= 1
        assert np.isfinite(data.train_x.numpy()).all()


def _write_idx(images: bytes, labels: bytes, gz: bool) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        suffix = ".gz" if gz else ""
        (folder / f"t10k-images-idx3-ubyte{suffix}").write_bytes(images)
        (folder / f"t10k-labels-idx1-ubyte{suffix}").write_bytes(labels)

    return write


@FUZZ
@given(images=damaged(IDX_IMAGES), labels=damaged(IDX_LABELS))
def test_damaged_idx(images: bytes, labels: bytes) -> None:
    _load_or_refuse(_write_idx(images, labels, gz=False), "mnist")


@FUZZ
@given(images=damaged(gzip.compress(IDX_IMAGES)), compress_after=st.booleans(), raw=damaged(IDX_IMAGES))
def test_damaged_gzip_idx(images: bytes, compress_after: bool, raw: bytes) -> None:
    """Either the gzip stream itself is damaged, or a damaged IDX is cleanly gzipped."""
    payload = gzip.compress(raw) if compress_after else images
    _load_or_refuse(_write_idx(payload, gzip.compress(IDX_LABELS), gz=True), "fashion-mnist")


@FUZZ
@given(batch=st.one_of(damaged(CIFAR_P4), damaged(CIFAR_PY2)))
def test_damaged_cifar_batch(batch: bytes) -> None:
    _load_or_refuse(lambda folder: (folder / "data_batch_1").write_bytes(batch), "cifar10")


@FUZZ
@given(first=st.one_of(damaged(PNG), damaged(JPEG)), second=st.sampled_from([PNG, JPEG]))
def test_damaged_image_in_folder(first: bytes, second: bytes) -> None:
    def write(folder: Path) -> None:
        (folder / "a.png").write_bytes(first)
        (folder / "b.jpg").write_bytes(second)

    _load_or_refuse(write, "folder")
