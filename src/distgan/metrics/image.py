"""FID, KID, classifier score and class coverage of generated images, all in our classifier's feature space.

Numbers are comparable between runs that use the same dataset and the same cached classifier, not with
published Inception-based FIDs. Everything runs on CPU, in batches, without gradients.
"""

from __future__ import annotations

import logging
import warnings

import torch
from torch import Tensor
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from distgan.errors import DistganError
from distgan.metrics.classifier import SmallCNN
from distgan.metrics.features import ClassifierFeatures

log = logging.getLogger(__name__)

BATCH_SIZE = 500
KID_SUBSET_SIZE = 1000  # torchmetrics' default, lowered to the sample count for small sets
KID_SUBSETS = 100


def to_unit(x: Tensor) -> Tensor:
    """[-1, 1] images -> [0, 1] float32 on CPU, clamped (a generator without tanh may overshoot)."""
    return ((x.detach().cpu().float() + 1) / 2).clamp(0, 1)


def check_images(name: str, x: Tensor, shape: tuple[int, ...] | None = None) -> None:
    """Raise unless `x` is a batch of at least 2 images (of `shape`, when given)."""
    if x.dim() != 4 or len(x) < 2 or (shape is not None and tuple(x.shape[1:]) != tuple(shape)):
        want = f"(N>=2, {', '.join(map(str, shape))})" if shape else "(N>=2, C, H, W)"
        raise DistganError(f"{name} images must have shape {want}, got {tuple(x.shape)}")


@torch.no_grad()
def fid_kid(fake: Tensor, real: Tensor, classifier: SmallCNN, seed: int = 0) -> dict[str, float]:
    """FID and KID (mean and std over subsets) between two image sets in [-1, 1]."""
    check_images("real", real)
    check_images("fake", fake, tuple(real.shape[1:]))
    feature = ClassifierFeatures(classifier)
    size = tuple(real.shape[1:])
    subset = min(KID_SUBSET_SIZE, len(fake), len(real))
    # sync_on_compute=False: rank 0 evaluates alone; torchmetrics would otherwise wait on the training group
    fid = FrechetInceptionDistance(
        feature=feature, normalize=True, input_img_size=size, sync_on_compute=False
    )
    with warnings.catch_warnings():  # "will save all extracted features": a few thousand 128-d rows here
        warnings.filterwarnings("ignore", message=".*save all extracted features", category=UserWarning)
        kid = KernelInceptionDistance(
            feature=feature, normalize=True, subsets=KID_SUBSETS, subset_size=subset, sync_on_compute=False
        )
    for images, is_real in ((real, True), (fake, False)):
        for batch in to_unit(images).split(BATCH_SIZE):
            fid.update(batch, real=is_real)
            kid.update(batch, real=is_real)
    with torch.random.fork_rng(devices=[]):  # KID draws its subsets from the global generator
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std)}


@torch.no_grad()
def predict_logits(x: Tensor, classifier: SmallCNN) -> Tensor:
    """Logits (N, K) of [-1, 1] images, in batches."""
    classifier.eval()
    return torch.cat([classifier(b) for b in x.detach().cpu().float().clamp(-1, 1).split(BATCH_SIZE)])


class _Logits(torch.nn.Module):
    """Hands already computed logits to torchmetrics' InceptionScore as its "features"."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_features = num_classes

    def forward(self, logits: Tensor) -> Tensor:
        return logits


def classifier_score(logits: Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))): 1 for one class or uninformative predictions, at most K.

    torchmetrics' InceptionScore over our classifier's logits, in one split (the whole sample), in double.
    """
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):  # it permutes with the global RNG
        warnings.simplefilter("ignore")  # its notes on keeping features, and on the std of one split
        # sync_on_compute=False: rank 0 scores alone, as for FID and KID
        score = InceptionScore(feature=_Logits(logits.shape[1]), splits=1, normalize=False, sync_on_compute=False)
        score.update(logits.double())
        mean, _ = score.compute()
    return float(mean)


def class_coverage(predicted: Tensor, num_classes: int) -> dict[str, float | int]:
    """`classes_covered`: classes that are the argmax of at least one sample (one stray sample counts).

    `class_kl`: KL(histogram of predicted classes || uniform); 0 when balanced, log K when one class.
    """
    counts = torch.bincount(predicted, minlength=num_classes).double()
    hist = counts / counts.sum()
    kl = torch.special.xlogy(hist, hist * num_classes).sum()
    return {"classes_covered": int((counts > 0).sum()), "class_kl": float(kl)}


def image_metrics(
    fake: Tensor, real: Tensor, classifier: SmallCNN, num_classes: int
) -> dict[str, float | int]:
    """FID, KID, classifier score, classes covered and class KL of `fake` against `real`, both in [-1, 1].

    Non-finite generated images (a diverged generator) give NaN for every measure instead of an error.
    """
    check_images("fake", fake, tuple(real.shape[1:]))
    if not torch.isfinite(fake).all():
        log.warning("generated images contain NaN or inf; every image measure is reported as NaN")
        nan = float("nan")
        return {"fid": nan, "kid": nan, "kid_std": nan, "score": nan, "classes_covered": nan, "class_kl": nan}
    logits = predict_logits(fake, classifier)
    return {
        **fid_kid(fake, real, classifier),
        "score": classifier_score(logits),
        **class_coverage(logits.argmax(dim=1), num_classes),
    }


def real_fid_floor(real_a: Tensor, real_b: Tensor, classifier: SmallCNN) -> float:
    """FID between two disjoint sets of real images: the best a generator can expect at that sample size.

    FID is biased upward at small sample sizes, so compare a generator's FID with a floor computed at
    similar set sizes.
    """
    return fid_kid(real_a, real_b, classifier)["fid"]
