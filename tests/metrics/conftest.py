"""Small datasets whose right answers are known: sklearn digits (8x8, 10 classes), 2-D Gaussian mixtures."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from distgan.data.dataset import Dataset
from distgan.metrics.classifier import SmallCNN, train_classifier


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """One intra-op thread: on a shared 2-core box, 2 threads spin-wait and train up to 30x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with single_thread():
        yield


def split_images(name: str, x: np.ndarray, y: np.ndarray, test_per_class: int, seed: int = 0) -> Dataset:
    """A labelled image `Dataset` with `test_per_class` held-out images of each class."""
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    test = np.concatenate([np.flatnonzero(y == c)[:test_per_class] for c in range(10)])
    train = np.setdiff1d(np.arange(len(x)), test)
    as_x = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.tensor(a, dtype=torch.int64)  # noqa: E731
    return Dataset(name, "image", as_x(x[train]), as_y(y[train]), as_x(x[test]), as_y(y[test]), 10)


@pytest.fixture(scope="session")
def digits() -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    return split_images("digits", d.images[:, None] / 8.0 - 1.0, d.target, test_per_class=36)


@pytest.fixture(scope="session")
def digits_classifier(digits: Dataset) -> tuple[SmallCNN, float]:
    with single_thread():
        return train_classifier(digits)


def ring_modes(m: int = 8, radius: float = 2.0) -> torch.Tensor:
    angles = torch.arange(m, dtype=torch.float64) * 2 * math.pi / m
    return torch.stack([radius * angles.cos(), radius * angles.sin()], dim=1)


def grid_modes(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    axis = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(axis, axis)


def sample_mixture(modes: torch.Tensor, std: float, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(len(modes), (n,), generator=g)
    return modes[which] + std * torch.randn(n, 2, generator=g, dtype=torch.float64)


def points_dataset(modes: torch.Tensor, std: float) -> Dataset:
    train, test = sample_mixture(modes, std, 2000, seed=1), sample_mixture(modes, std, 500, seed=2)
    return Dataset("ring", "points", train.float(), None, test.float(), None, None, modes.float(), std)
