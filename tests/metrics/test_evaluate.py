"""The evaluator: which measures each kind of dataset gets, and that they are sensible."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from distgan.data.dataset import Dataset
from distgan.errors import DistganError
from distgan.metrics import evaluate
from distgan.metrics.classifier import ClassifierConfig, SmallCNN
from distgan.metrics.evaluate import make_evaluator

from .conftest import points_dataset, ring_modes, sample_mixture


def draw_from(pool: torch.Tensor):
    def sample_fn(n: int) -> torch.Tensor:
        return pool[torch.randint(len(pool), (n,), generator=torch.Generator().manual_seed(n))]

    return sample_fn


def test_points_evaluator_scores_the_true_mixture() -> None:
    modes = ring_modes(8)
    ev = make_evaluator(points_dataset(modes, 0.02), "ring")
    result = ev(lambda n: sample_mixture(modes, 0.02, n, seed=5).float())
    assert result["num_samples"] == 2500
    assert result["modes_captured"] == result["num_modes"] == 8
    assert result["hq_pct"] > 97.0
    assert result["unavailable"] == []
    assert ev.real_fid_floor is None


def test_points_without_modes_raise() -> None:
    data = dataclasses.replace(points_dataset(ring_modes(8), 0.02), modes=None)
    with pytest.raises(DistganError, match="modes"):
        make_evaluator(data, "ring")


@pytest.fixture
def labelled_evaluator(
    monkeypatch: pytest.MonkeyPatch, digits: Dataset, digits_classifier: tuple[SmallCNN, float]
) -> evaluate.Evaluator:
    calls = []
    monkeypatch.setattr(
        evaluate, "load_or_train_classifier", lambda *args: calls.append(args) or digits_classifier
    )
    ev = make_evaluator(digits, "digits")
    assert len(calls) == 1 and calls[0][1] == "digits"
    return ev


def test_labelled_images_get_every_measure(labelled_evaluator: evaluate.Evaluator, digits: Dataset) -> None:
    result = labelled_evaluator(draw_from(digits.train_x))
    assert result["num_samples"] == len(digits.test_x)
    assert result["unavailable"] == []
    assert result["classifier_accuracy"] > 0.95
    assert result["classes_covered"] == result["num_classes"] == 10 and result["score"] > 8.0
    assert 0 < result["fid"] < labelled_evaluator(draw_from(digits.train_x * 0.3))["fid"]


def test_real_fid_floor_is_cached(
    labelled_evaluator: evaluate.Evaluator, monkeypatch: pytest.MonkeyPatch
) -> None:
    floor = labelled_evaluator.real_fid_floor
    assert floor > 0
    monkeypatch.setattr(evaluate, "real_fid_floor", lambda *a: pytest.fail("floor recomputed"))
    assert labelled_evaluator.real_fid_floor == floor


def test_the_classifier_fingerprint_names_its_weights(labelled_evaluator: evaluate.Evaluator) -> None:
    fingerprint = labelled_evaluator.classifier_fingerprint
    assert len(fingerprint) == 16
    other = copy.copy(labelled_evaluator)
    other.__dict__.pop("classifier_fingerprint", None)  # the cached value goes with the old classifier
    other.classifier = SmallCNN(1, 8, 10)
    assert other.classifier_fingerprint != fingerprint
    assert make_evaluator(points_dataset(ring_modes(8), 0.02), "ring").classifier_fingerprint is None


def test_wrong_sample_shape_raises(labelled_evaluator: evaluate.Evaluator) -> None:
    with pytest.raises(DistganError, match="does not fit"):
        labelled_evaluator(lambda n: torch.zeros(n, 1, 28, 28))


def test_unlabelled_images_get_fid_kid_only(
    digits: Dataset, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("DISTGAN_CACHE", str(tmp_path))
    folder = dataclasses.replace(digits, name="folder", train_y=None, test_y=None, num_classes=None)
    ev = make_evaluator(folder, "folder", num_samples=300, config=ClassifierConfig(steps=300))
    result = ev(draw_from(digits.train_x))
    noisy = ev(draw_from((digits.train_x + 0.5 * torch.randn_like(digits.train_x)).clamp(-1, 1)))
    assert set(result["unavailable"]) == {"score", "classes_covered", "class_kl", "classifier_accuracy"}
    assert not set(result["unavailable"]) & set(result)
    assert 0.5 < result["rotation_accuracy"] <= 1.0
    assert 0 < result["fid"] < noisy["fid"] and result["kid"] < noisy["kid"]
    assert math.isfinite(ev.real_fid_floor)


def test_floor_is_computed_at_the_evaluations_sample_size(monkeypatch, labelled_evaluator):
    """FID is biased by sample size: the floor scores as many training images as an evaluation generates,
    against the same held-out set."""
    seen = {}

    def spy(a, b, classifier):
        seen["sizes"] = (len(a), len(b))
        seen["same_real"] = b is labelled_evaluator.real
        return 1.0

    monkeypatch.setattr(evaluate, "real_fid_floor", spy)
    labelled_evaluator.__dict__.pop("real_fid_floor", None)  # forget the cached value
    assert labelled_evaluator.real_fid_floor == 1.0
    assert seen["sizes"] == (labelled_evaluator.num_samples, len(labelled_evaluator.real))
    assert seen["same_real"]
    labelled_evaluator.__dict__.pop("real_fid_floor")  # the fixture may be shared: leave no fake value behind
