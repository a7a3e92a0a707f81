"""2-D Gaussian mixtures (ring8, grid25) with the PacGAN parameters; the same points on every run."""

from __future__ import annotations

import math

import numpy as np
import torch

from distgan.data.dataset import Dataset

NUM_TRAIN = 20_000
NUM_TEST = 2_500
_SEED = 20180101  # fixed so the dataset is identical across runs and machines


def ring8_modes() -> np.ndarray:
    """Eight means evenly spaced on the unit circle."""
    angles = 2 * math.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid25_modes() -> np.ndarray:
    """Twenty-five means at {-4, -2, 0, 2, 4}^2."""
    axis = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    xs, ys = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


MIXTURES = {"ring8": (ring8_modes, 0.01), "grid25": (grid25_modes, 0.05)}


def load_mixture(name: str) -> Dataset:
    """Sample train and test points (real coordinates, not rescaled); labels are mode indices."""
    make_modes, std = MIXTURES[name]
    modes = make_modes()
    rng = np.random.default_rng(_SEED)
    train_x, train_y = _sample(modes, std, NUM_TRAIN, rng)
    test_x, test_y = _sample(modes, std, NUM_TEST, rng)
    return Dataset(
        name=name,
        kind="points",
        train_x=torch.from_numpy(train_x),
        train_y=torch.from_numpy(train_y),
        test_x=torch.from_numpy(test_x),
        test_y=torch.from_numpy(test_y),
        num_classes=len(modes),
        modes=torch.from_numpy(modes.astype(np.float32)),
        mode_std=std,
    )


def _sample(modes: np.ndarray, std: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points: a uniformly chosen mode plus isotropic Gaussian noise of sd `std`."""
    labels = rng.integers(len(modes), size=n)
    points = modes[labels] + std * rng.standard_normal((n, 2))
    return points.astype(np.float32), labels.astype(np.int64)
