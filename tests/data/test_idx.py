"""mnist:PATH and fashion-mnist:PATH: IDX parsing, gzip, the one-pair split, and every malformed case."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from data_samples import idx_bytes, mnist_arrays, write_idx_pair

from distgan.data.idx import IMAGES_MAGIC, read_idx
from distgan.data.registry import load_dataset
from distgan.errors import DistganError


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("prefix", ["mnist", "fashion-mnist"])
def test_train_and_t10k_pairs_load(tmp_path: Path, gz: bool, prefix: str) -> None:
    write_idx_pair(tmp_path, "train", 30, gz=gz, seed=1)
    write_idx_pair(tmp_path, "t10k", 12, gz=gz, seed=2)
    data = load_dataset(f"{prefix}:{tmp_path}")
    assert data.name == prefix and data.kind == "image" and data.num_classes == 10
    assert data.train_x.shape == (30, 1, 28, 28) and data.test_x.shape == (12, 1, 28, 28)
    images, labels = mnist_arrays(30, seed=1)
    expected = torch.from_numpy(images[:, None].astype(np.float32) / 127.5 - 1)
    assert torch.equal(data.train_x, expected)
    assert data.train_y.tolist() == labels.tolist() and data.train_y.dtype == torch.int64
    assert data.train_x.min() >= -1 and data.train_x.max() <= 1


def test_dotted_names_and_mixed_gzip_are_accepted(tmp_path: Path) -> None:
    images, _ = write_idx_pair(tmp_path, "train", 10, gz=True)
    images.rename(tmp_path / "train-images.idx3-ubyte.gz")
    write_idx_pair(tmp_path, "t10k", 5)
    assert len(load_dataset(f"mnist:{tmp_path}").train_x) == 10


def test_gzip_is_detected_by_content(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((2, 3, 4), np.uint8))))
    assert read_idx(path, IMAGES_MAGIC).shape == (2, 3, 4)


@pytest.mark.parametrize("prefix", ["t10k", "train"])
def test_one_pair_is_split_80_20_keeping_every_image(tmp_path: Path, prefix: str) -> None:
    write_idx_pair(tmp_path, prefix, 100, gz=True)
    data = load_dataset(f"mnist:{tmp_path}")
    assert (len(data.train_x), len(data.test_x)) == (80, 20)
    assert data.test_y.bincount(minlength=10).tolist() == [2] * 10  # stratified
    images, labels = mnist_arrays(100)
    pixels = ((torch.cat([data.train_x, data.test_x]) + 1) * 127.5).round().byte().numpy()
    got = {(row.tobytes(), int(y)) for row, y in zip(pixels, torch.cat([data.train_y, data.test_y]))}
    assert got == {(img[None].tobytes(), int(y)) for img, y in zip(images, labels)}  # pairs kept together
    again = load_dataset(f"mnist:{tmp_path}")
    assert torch.equal(data.test_x, again.test_x)


def _raises(path: Path, fragment: str, spec: str = "mnist") -> None:
    with pytest.raises(DistganError, match=fragment) as err:
        load_dataset(f"{spec}:{path.parent}")
    assert path.name in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload(tmp_path: Path, gz: bool) -> None:
    images, _ = write_idx_pair(tmp_path, "train", 10)
    data = images.read_bytes()[:-7]
    images.write_bytes(gzip.compress(data) if gz else data)
    _raises(images, "header claims 7840 bytes")


def test_truncated_header(tmp_path: Path) -> None:
    _, labels = write_idx_pair(tmp_path, "t10k", 10)
    labels.write_bytes(labels.read_bytes()[:6])
    _raises(labels, "truncated")


def test_wrong_magic_says_which_was_expected(tmp_path: Path) -> None:
    images, labels = write_idx_pair(tmp_path, "train", 10)
    images.write_bytes(labels.read_bytes())  # a labels file where images belong
    _raises(images, "wrong magic number 0x00000801 .*0x00000803")


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    images, labels = write_idx_pair(tmp_path, "train", 10)
    labels.write_bytes(idx_bytes(np.zeros(9, np.uint8)))
    _raises(images, "10 images but .*9 labels")


def test_extra_bytes_are_refused(tmp_path: Path) -> None:
    images, _ = write_idx_pair(tmp_path, "train", 10, gz=True)
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes()) + b"\0"))
    _raises(images, "more than 7840")


def test_zero_dimension(tmp_path: Path) -> None:
    images, labels = write_idx_pair(tmp_path, "train", 1)
    images.write_bytes(struct.pack(">IIII", 0x803, 0, 28, 28))
    labels.write_bytes(struct.pack(">II", 0x801, 0))
    _raises(images, "zero dimension")


@pytest.mark.parametrize("gz", [False, True])
def test_header_claiming_more_than_present_does_not_allocate_it(tmp_path: Path, gz: bool) -> None:
    images, _ = write_idx_pair(tmp_path, "train", 10)
    data = struct.pack(">IIII", 0x803, 200_000, 28, 28) + bytes(100)  # claims ~157 MB
    images.write_bytes(gzip.compress(data) if gz else data)
    tracemalloc.start()
    try:
        _raises(images, "header claims 156800000 bytes")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_absurd_header_is_refused_before_reading(tmp_path: Path) -> None:
    images, _ = write_idx_pair(tmp_path, "train", 10, gz=True)
    images.write_bytes(gzip.compress(struct.pack(">IIII", 0x803, 2**32 - 1, 2**32 - 1, 2**32 - 1)))
    _raises(images, "limit")


@pytest.mark.parametrize("damage", ["flip", "cut"])
def test_corrupt_gzip(tmp_path: Path, damage: str) -> None:
    images, _ = write_idx_pair(tmp_path, "train", 10, gz=True)
    raw = bytearray(images.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0xFF
        raw[-5] ^= 0xFF  # the stored CRC too, so either check catches it
    else:
        raw = raw[: len(raw) - 12]
    images.write_bytes(bytes(raw))
    _raises(images, "corrupt or truncated gzip")


def test_missing_partner_file_is_named(tmp_path: Path) -> None:
    images, labels = write_idx_pair(tmp_path, "train", 10)
    labels.unlink()
    with pytest.raises(DistganError, match="train-labels-idx1-ubyte") as err:
        load_dataset(f"mnist:{tmp_path}")
    assert images.name in str(err.value)


def test_folder_without_idx_files_lists_expected_names(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(DistganError, match="t10k-images-idx3-ubyte"):
        load_dataset(f"fashion-mnist:{tmp_path}")


def test_train_and_test_image_sizes_must_agree(tmp_path: Path) -> None:
    write_idx_pair(tmp_path, "train", 10)
    images, _ = write_idx_pair(tmp_path, "t10k", 10)
    images.write_bytes(idx_bytes(np.zeros((10, 14, 14), np.uint8)))
    with pytest.raises(DistganError, match="same dataset"):
        load_dataset(f"mnist:{tmp_path}")


def test_real_t10k_sized_pair_loads_all_images(tmp_path: Path) -> None:
    """A folder holding only a 10,000-image t10k pair yields 10,000 images with their labels."""
    images = np.random.default_rng(3).integers(0, 256, (10_000, 28, 28), dtype=np.uint8)
    labels = np.random.default_rng(4).integers(0, 10, 10_000).astype(np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images), compresslevel=1))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    data = load_dataset(f"mnist:{tmp_path}")
    assert (len(data.train_x), len(data.test_x)) == (8000, 2000)
    all_y = torch.cat([data.train_y, data.test_y])
    assert all_y.bincount(minlength=10).tolist() == np.bincount(labels, minlength=10).tolist()
