"""FID, KID, classifier score and class coverage on image sets whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from distgan.data.dataset import Dataset
from distgan.errors import DistganError
from distgan.metrics.classifier import SmallCNN
from distgan.metrics.features import ClassifierFeatures, ClassifierLogits
from distgan.metrics.image import class_coverage, classifier_score, fid_kid, image_metrics, real_fid_floor


def noised(x: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + std * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def test_fid_of_a_set_against_itself_is_zero(
    digits: Dataset, digits_classifier: tuple[SmallCNN, float]
) -> None:
    model, _ = digits_classifier
    assert abs(fid_kid(digits.test_x, digits.test_x, model)["fid"]) < 1e-3


def test_fid_and_kid_rise_with_noise_and_shift(
    digits: Dataset, digits_classifier: tuple[SmallCNN, float]
) -> None:
    model, _ = digits_classifier
    real, fake = digits.test_x, digits.train_x
    clean = fid_kid(fake, real, model)
    small, large = fid_kid(noised(fake, 0.2), real, model), fid_kid(noised(fake, 0.6), real, model)
    brighter = fid_kid((fake + 0.4).clamp(-1, 1), real, model)
    assert clean["fid"] < small["fid"] < large["fid"]
    assert clean["fid"] < brighter["fid"]
    assert clean["kid"] < small["kid"] < large["kid"]
    assert abs(clean["kid"]) < 3 * clean["kid_std"] + 1e-6  # same distribution: KID is 0 within its noise


def test_real_fid_floor_is_small_next_to_noise(
    digits: Dataset, digits_classifier: tuple[SmallCNN, float]
) -> None:
    model, _ = digits_classifier
    floor = real_fid_floor(digits.train_x[:600], digits.train_x[600:1200], model)
    assert 0 < floor < fid_kid(noised(digits.train_x[:600], 0.6), digits.train_x[600:1200], model)["fid"] / 3


def test_held_out_real_data_scores_near_num_classes(
    digits: Dataset, digits_classifier: tuple[SmallCNN, float]
) -> None:
    model, _ = digits_classifier
    result = image_metrics(digits.test_x, digits.train_x, model, num_classes=10)
    assert 8.0 < result["score"] <= 10.0
    assert result["classes_covered"] == 10
    assert result["class_kl"] < 0.05


def test_one_class_generator_covers_one_class(
    digits: Dataset, digits_classifier: tuple[SmallCNN, float]
) -> None:
    model, _ = digits_classifier
    zeros = digits.train_x[digits.train_y == 0]
    zeros = zeros[model(zeros).argmax(1) == 0]  # drop the rare misclassified zero: this tests the metric
    result = image_metrics(zeros, digits.test_x, model, num_classes=10)
    assert result["classes_covered"] == 1
    assert result["class_kl"] == pytest.approx(math.log(10))
    assert result["score"] < 1.5
    assert result["fid"] > fid_kid(digits.train_x, digits.test_x, model)["fid"]


def test_score_and_coverage_on_known_predictions() -> None:
    confident = torch.eye(4) * 50
    assert classifier_score(confident) == pytest.approx(4.0, rel=1e-6)
    assert classifier_score(torch.zeros(8, 4)) == pytest.approx(1.0)
    assert classifier_score(confident[[2, 2, 2]]) == pytest.approx(1.0)
    assert class_coverage(torch.tensor([0, 1, 2, 3]), 4) == {"classes_covered": 4, "class_kl": 0.0}
    covered = class_coverage(torch.tensor([1, 1, 1, 1]), 4)
    assert covered["classes_covered"] == 1 and covered["class_kl"] == pytest.approx(math.log(4))


def test_small_sets_lower_kid_subset_size(digits: Dataset, digits_classifier: tuple[SmallCNN, float]) -> None:
    model, _ = digits_classifier
    result = fid_kid(digits.train_x[:30], digits.test_x[:50], model)
    assert all(math.isfinite(v) for v in result.values())


def test_non_finite_fake_gives_nan_not_an_error(
    digits: Dataset, digits_classifier: tuple[SmallCNN, float]
) -> None:
    model, _ = digits_classifier
    fake = digits.train_x[:50].clone()
    fake[3, 0, 2, 2] = float("nan")
    result = image_metrics(fake, digits.test_x, model, num_classes=10)
    assert math.isnan(result["fid"]) and math.isnan(result["score"])


def test_mismatched_shapes_raise(digits: Dataset, digits_classifier: tuple[SmallCNN, float]) -> None:
    model, _ = digits_classifier
    with pytest.raises(DistganError, match="shape"):
        image_metrics(torch.zeros(10, 1, 28, 28), digits.test_x, model, 10)
    with pytest.raises(DistganError, match="shape"):
        fid_kid(digits.test_x[:1], digits.test_x, model)


def test_wrappers_take_unit_range_and_stay_in_eval(
    digits: Dataset, digits_classifier: tuple[SmallCNN, float]
) -> None:
    model, _ = digits_classifier
    features, logits = ClassifierFeatures(model), ClassifierLogits(model)
    features.train()
    assert not features.training and not model.training
    unit = (digits.test_x[:16] + 1) / 2
    with torch.no_grad():
        assert torch.allclose(features(unit), model.features(digits.test_x[:16]), atol=1e-6)
        assert torch.allclose(logits(unit), model(digits.test_x[:16]), atol=1e-6)
    assert features.num_features == model.feature_dim and logits.num_features == 10
    fid = FrechetInceptionDistance(feature=features, normalize=True, input_img_size=(1, 8, 8))
    fid.update(unit, real=True)
    fid.update(unit, real=False)
    assert abs(float(fid.compute())) < 1e-3


def test_classifier_score_through_torchmetrics_matches_the_formula():
    """torchmetrics' InceptionScore over our logits gives exp(E KL(p(y|x) || p(y))), as computed by hand."""
    logits = torch.randn(500, 10, generator=torch.Generator().manual_seed(0)) * 3
    log_p = torch.log_softmax(logits.double(), dim=1)
    log_marginal = torch.logsumexp(log_p, dim=0) - math.log(len(log_p))
    by_hand = float((log_p.exp() * (log_p - log_marginal)).sum(dim=1).mean().exp())
    assert classifier_score(logits) == pytest.approx(by_hand, rel=1e-12)
