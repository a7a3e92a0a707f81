"""The metrics classifier: shapes, accuracy targets, and the on-disk cache."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import torch

from distgan.data.dataset import Dataset
from distgan.errors import DistganError
from distgan.metrics import classifier as clf
from distgan.metrics.classifier import ClassifierConfig, SmallCNN, random_shift, rotation_task


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [8, 28, 32])
def test_forward_and_features_shapes(channels: int, size: int) -> None:
    model = SmallCNN(channels, size, num_classes=10).eval()
    x = torch.rand(5, channels, size, size) * 2 - 1
    assert model(x).shape == (5, 10)
    assert model.features(x).shape == (5, model.feature_dim)


@pytest.mark.parametrize("shape", [(1, 16, 16), (2, 28, 28), (28, 28), (1, 28, 32)])
def test_unsupported_shape_raises(digits: Dataset, shape: tuple[int, ...]) -> None:
    bad = dataclasses.replace(digits, train_x=torch.zeros(4, *shape))
    with pytest.raises(DistganError, match="supported size"):
        clf.train_classifier(bad)


def test_random_shift_moves_content_and_keeps_shape() -> None:
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 4, 4] = 1.0
    shifted = random_shift(x, 1, torch.Generator().manual_seed(0))
    assert shifted.shape == x.shape
    assert torch.equal(shifted.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))  # a single pixel, moved not lost
    assert (shifted != x).any()
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)


def test_rotation_task_labels_each_rotation() -> None:
    x = torch.arange(2 * 16, dtype=torch.float32).reshape(2, 1, 4, 4)
    rotated, labels = rotation_task(x)
    assert rotated.shape == (8, 1, 4, 4)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(rotated[6], torch.rot90(x[0], 3, dims=(1, 2)))


def test_digits_accuracy_above_target(digits_classifier: tuple[SmallCNN, float]) -> None:
    model, accuracy = digits_classifier
    assert accuracy > 0.95
    assert not model.training


def test_training_is_deterministic_and_keeps_caller_rng_and_threads(digits: Dataset) -> None:
    config = ClassifierConfig(steps=20)
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    torch.set_num_threads(2)  # the autouse fixture restores the session's setting afterwards
    a, acc_a = clf.train_classifier(digits, seed=3, config=config)
    assert torch.equal(torch.rand(1), expected)
    assert torch.get_num_threads() == 2
    b, acc_b = clf.train_classifier(digits, seed=3, config=config)
    assert acc_a == acc_b
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_mnist5k_accuracy_at_least_097() -> None:
    """The classifier every mnist5k run is scored by: trained once per test session and cached (conftest.py),
    so the runs on mnist5k elsewhere in the suite load this one instead of training their own."""
    from distgan.data.registry import load_dataset

    mnist = load_dataset("mnist5k")  # 5,000 images, 500 per class: 4,000 train, 1,000 held out
    assert len(mnist.train_x) == 4000 and len(mnist.test_x) == 1000
    _, accuracy = clf.load_or_train_classifier(mnist, "mnist5k")
    assert accuracy >= 0.97


@pytest.fixture
def counted_training(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Cache under tmp_path; record every real training run."""
    monkeypatch.setenv("DISTGAN_CACHE", str(tmp_path))
    calls: list[str] = []
    real_train = clf.train_classifier

    def spy(dataset: Dataset, seed: int = 0, config: ClassifierConfig | None = None, num_threads: int = 1):
        calls.append(dataset.name)
        return real_train(dataset, seed, config, num_threads)

    monkeypatch.setattr(clf, "train_classifier", spy)
    return calls


def tiny(digits: Dataset) -> Dataset:
    return dataclasses.replace(digits, train_x=digits.train_x[:200], train_y=digits.train_y[:200])


def test_cache_hit_returns_same_model_without_training(
    digits: Dataset, counted_training: list[str], tmp_path: Path
) -> None:
    config = ClassifierConfig(steps=5)
    first, acc_first = clf.load_or_train_classifier(tiny(digits), "digits-v1", config)
    assert counted_training == ["digits"]
    assert len(list((tmp_path / "classifiers").glob("*.pt"))) == 1
    assert not list((tmp_path / "classifiers").glob("*.tmp"))
    second, acc_second = clf.load_or_train_classifier(tiny(digits), "digits-v1", config)
    assert counted_training == ["digits"]
    assert acc_second == acc_first
    assert not second.training
    x = digits.test_x[:20]
    assert torch.equal(first(x), second(x))


def test_cache_key_changes_with_fingerprint_data_and_config(
    digits: Dataset, counted_training: list[str]
) -> None:
    data = tiny(digits)
    clf.load_or_train_classifier(data, "a", ClassifierConfig(steps=5))
    clf.load_or_train_classifier(data, "b", ClassifierConfig(steps=5))
    clf.load_or_train_classifier(data, "a", ClassifierConfig(steps=6))
    changed = dataclasses.replace(data, train_x=data.train_x.flip(0))
    clf.load_or_train_classifier(changed, "a", ClassifierConfig(steps=5))
    assert len(counted_training) == 4


def test_corrupt_cache_file_is_retrained(
    digits: Dataset, counted_training: list[str], tmp_path: Path
) -> None:
    config = ClassifierConfig(steps=5)
    clf.load_or_train_classifier(tiny(digits), "digits", config)
    (path,) = (tmp_path / "classifiers").glob("*.pt")
    path.write_bytes(b"not a checkpoint")
    _, accuracy = clf.load_or_train_classifier(tiny(digits), "digits", config)
    assert len(counted_training) == 2
    assert 0.0 <= accuracy <= 1.0
    assert torch.load(path, weights_only=True)["num_classes"] == 10


def test_cache_dir_defaults_to_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DISTGAN_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert clf.cache_dir() == tmp_path / ".cache" / "distgan" / "classifiers"


def test_points_dataset_is_rejected() -> None:
    points = Dataset("ring", "points", torch.zeros(4, 2), None, torch.zeros(4, 2), None, None)
    with pytest.raises(DistganError, match="images only"):
        clf.train_classifier(points)


def test_low_accuracy_logs_a_warning(digits: Dataset, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="distgan.metrics.classifier"):
        clf.train_classifier(tiny(digits), config=ClassifierConfig(steps=2))
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "below the target 0.95" in caplog.text


def test_three_channel_32x32_trains_and_caches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DISTGAN_CACHE", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 3, 32, 32, generator=g) * 2 - 1
    y = torch.arange(40) % 4
    data = Dataset("rgb", "image", x[:30], y[:30], x[30:], y[30:], 4)
    model, accuracy = clf.load_or_train_classifier(data, "rgb", ClassifierConfig(steps=3))
    assert model(x[:2]).shape == (2, 4) and 0.0 <= accuracy <= 1.0
    again, _ = clf.load_or_train_classifier(data, "rgb", ClassifierConfig(steps=3))
    assert torch.equal(model(x[:2]), again(x[:2]))
