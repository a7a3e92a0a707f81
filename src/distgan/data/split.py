"""Deterministic train/test splits and pixel scaling shared by the loaders."""

from __future__ import annotations

import numpy as np
import torch

from distgan.data.dataset import Dataset
from distgan.errors import DistganError

TEST_FRACTION = 0.2


def split_indices(
    num_samples: int, labels: np.ndarray | None, seed: int, test_fraction: float = TEST_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) index arrays, stratified by label when labels are given; deterministic in `seed`."""
    if num_samples < 2:
        raise DistganError(f"need at least 2 samples to split into train and test, got {num_samples}")
    rng = np.random.default_rng(seed)
    num_test = min(max(1, round(num_samples * test_fraction)), num_samples - 1)
    if labels is None:
        order = rng.permutation(num_samples)
        return np.sort(order[num_test:]), np.sort(order[:num_test])
    classes, counts = np.unique(labels, return_counts=True)
    quotas = _largest_remainder(counts * (num_test / num_samples), num_test)
    train, test = [], []
    for c, quota in zip(classes, quotas):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.append(members[:quota])
        train.append(members[quota:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _largest_remainder(shares: np.ndarray, total: int) -> np.ndarray:
    """Integer parts of `shares` that sum to `total`, rounding up the largest fractions first."""
    base = np.floor(shares).astype(np.int64)
    extra = total - int(base.sum())
    order = np.argsort(-(shares - base), kind="stable")
    base[order[:extra]] += 1
    return base


def bytes_to_unit(pixels: np.ndarray) -> torch.Tensor:
    """uint8 pixels 0..255 -> float32 tensor in [-1, 1]."""
    return torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1.0)


def labels_tensor(labels: np.ndarray | None) -> torch.Tensor | None:
    """int64 label tensor, or None for unlabelled data."""
    return None if labels is None else torch.from_numpy(labels.astype(np.int64))


def split_arrays(
    x: np.ndarray, y: np.ndarray | None, seed: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Split paired arrays 80/20 with `split_indices`: (train_x, train_y, test_x, test_y)."""
    train, test = split_indices(len(x), y, seed)
    if y is None:
        return x[train], None, x[test], None
    return x[train], y[train], x[test], y[test]


def uint8_image_dataset(
    name: str,
    train: tuple[np.ndarray, np.ndarray | None],
    test: tuple[np.ndarray, np.ndarray | None],
    num_classes: int | None,
) -> Dataset:
    """Dataset from uint8 (N, C, H, W) arrays and optional int labels."""
    return Dataset(
        name=name,
        kind="image",
        train_x=bytes_to_unit(train[0]),
        train_y=labels_tensor(train[1]),
        test_x=bytes_to_unit(test[0]),
        test_y=labels_tensor(test[1]),
        num_classes=num_classes,
    )
