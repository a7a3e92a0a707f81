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
    num_test = min(max(1, round(num_samples * test_fraction)), num_samples - 1)
    from sklearn.model_selection import train_test_split  # here: scikit-learn takes 2 s to import, every rank

    stratify = labels if labels is not None and _stratifiable(labels, num_test, num_samples) else None
    train, test = train_test_split(np.arange(num_samples), test_size=num_test, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(test)


def _stratifiable(labels: np.ndarray, num_test: int, num_samples: int) -> bool:
    """scikit-learn stratifies only with 2+ samples per class and room for every class on both sides."""
    counts = np.unique(labels, return_counts=True)[1]
    return counts.min() >= 2 and len(counts) <= min(num_test, num_samples - num_test)


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
