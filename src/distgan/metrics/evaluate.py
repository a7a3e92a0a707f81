"""One call that scores a generator on a dataset: `make_evaluator(dataset, fingerprint)(sample_fn)`.

What is measured depends on the dataset:

- labelled images: FID, KID, classifier score, classes covered, class KL, and the classifier's held-out
  accuracy (and `num_classes`), all from a classifier trained on the dataset's own labels (`classifier.py`);
- unlabelled images (image folders): FID and KID only. With no labels there are no classes, so the score,
  classes covered, class KL and classifier accuracy do not exist; they are listed under `"unavailable"`.
  The features come from the same network trained to tell which of four rotations an image was given, so
  they are still learned from the data (a randomly initialised network would give numbers that mean
  nothing). `rotation_accuracy` says how well that pretext task was learned; low values mean weak features;
- 2-D mixtures: modes captured, number of modes and percent of high-quality samples (see `mixtures.py`).

Every result holds `num_samples` and `unavailable` (a list of measure names, empty when all exist).
"""

from __future__ import annotations

import hashlib
import logging
from functools import cached_property
from typing import Callable

import torch
from torch import Tensor

from distgan.data.dataset import Dataset
from distgan.errors import DistganError
from distgan.metrics.classifier import ClassifierConfig, SmallCNN, load_or_train_classifier, uses_labels
from distgan.metrics.image import fid_kid, image_metrics, real_fid_floor
from distgan.metrics.mixtures import DEFAULT_NUM_SAMPLES, mixture_metrics

log = logging.getLogger(__name__)

SampleFn = Callable[[int], Tensor]
CLASS_MEASURES = ["score", "classes_covered", "class_kl", "classifier_accuracy"]


class Evaluator:
    """Holds what scoring needs across calls: the classifier, the held-out real set, the cached FID floor."""

    def __init__(
        self,
        dataset: Dataset,
        num_samples: int,
        classifier: SmallCNN | None = None,
        classifier_accuracy: float | None = None,
    ) -> None:
        self.dataset = dataset
        self.num_samples = num_samples
        self.classifier = classifier
        self.classifier_accuracy = classifier_accuracy
        self.real = None
        if dataset.kind == "image":  # a fixed random subset, in case the held-out set is sorted by class
            order = torch.randperm(len(dataset.test_x), generator=torch.Generator().manual_seed(0))
            self.real = dataset.test_x[order[:num_samples]]

    def __call__(self, sample_fn: SampleFn) -> dict:
        """Draw `num_samples` from `sample_fn(n)` (under no_grad) and score them against held-out real data.

        Putting the generator in eval mode, and batching inside `sample_fn`, is the caller's choice.
        """
        with torch.no_grad():
            samples = sample_fn(self.num_samples).detach().cpu().float()
        if tuple(samples.shape) != (self.num_samples, *self.dataset.sample_shape):
            expected = (self.num_samples, *self.dataset.sample_shape)
            raise DistganError(
                f"sample_fn({self.num_samples}) returned shape {tuple(samples.shape)}, expected {expected}; "
                f"the generator does not fit {self.dataset.name}"
            )
        with torch.no_grad():
            if self.dataset.kind == "points":
                assert self.dataset.modes is not None and self.dataset.mode_std is not None
                result: dict = mixture_metrics(samples, self.dataset.modes, self.dataset.mode_std)
                result["unavailable"] = []
            elif uses_labels(self.dataset):
                result = image_metrics(samples, self.real, self.classifier, self.dataset.num_classes)
                result["num_classes"] = self.dataset.num_classes
                result["classifier_accuracy"] = self.classifier_accuracy
                result["unavailable"] = []
            else:
                result = self._unlabelled(samples)
        result["num_samples"] = self.num_samples
        return result

    def _unlabelled(self, samples: Tensor) -> dict:
        if not torch.isfinite(samples).all():
            log.warning("generated images contain NaN or inf; FID and KID are reported as NaN")
            result: dict = {"fid": float("nan"), "kid": float("nan"), "kid_std": float("nan")}
        else:
            result = fid_kid(samples, self.real, self.classifier)
        result["rotation_accuracy"] = self.classifier_accuracy
        result["unavailable"] = list(CLASS_MEASURES)
        return result

    @cached_property
    def classifier_fingerprint(self) -> str | None:
        """A hash of the metrics classifier's weights (None for 2-D mixtures). Two runs' FIDs compare only
        when it is the same: a classifier is retrained wherever its cache is empty, and the floor moves with it."""
        if self.classifier is None:
            return None
        digest = hashlib.sha256()
        for name, tensor in sorted(self.classifier.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    @cached_property
    def real_fid_floor(self) -> float | None:
        """The FID of a generator that draws the training set itself (None for 2-D mixtures); computed once.

        FID is biased by sample size, so the floor is computed exactly as an evaluation is: `num_samples`
        images (here training images, a fixed random choice, with repeats only if the training set is
        smaller) against the same held-out real set. It is the FID a perfect generator would get.
        """
        if self.dataset.kind != "image":
            return None
        train = self.dataset.train_x
        rng = torch.Generator().manual_seed(1)
        if len(train) >= self.num_samples:
            pick = torch.randperm(len(train), generator=rng)[: self.num_samples]
        else:
            pick = torch.randint(len(train), (self.num_samples,), generator=rng)
        return real_fid_floor(train[pick], self.real, self.classifier)


def make_evaluator(
    dataset: Dataset,
    fingerprint: str,
    num_samples: int | None = None,
    config: ClassifierConfig | None = None,
) -> Evaluator:
    """Build the evaluator, training (or loading from cache) the classifier for image datasets.

    `num_samples` defaults to 2,500 for mixtures and to the held-out set size for images; the real set is
    a fixed random choice of `num_samples` held-out images (all of them if there are fewer).
    """
    if dataset.kind == "points":
        if dataset.modes is None or dataset.mode_std is None:
            raise DistganError(f"points dataset {dataset.name!r} needs `modes` and `mode_std` to be scored")
        return Evaluator(dataset, num_samples or DEFAULT_NUM_SAMPLES)
    if dataset.kind != "image":
        raise DistganError(
            f"dataset {dataset.name!r} has kind {dataset.kind!r}; expected 'image' or 'points'"
        )
    if len(dataset.test_x) < 2:
        raise DistganError(f"dataset {dataset.name!r} needs at least 2 held-out images to compute FID")
    classifier, accuracy = load_or_train_classifier(dataset, fingerprint, config)
    return Evaluator(dataset, num_samples or len(dataset.test_x), classifier, accuracy)
