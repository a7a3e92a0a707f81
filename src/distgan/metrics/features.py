"""Frozen wrappers that let torchmetrics use our classifier in place of Inception.

Both take images in [0, 1], the range torchmetrics expects with `normalize=True` (FID, KID), and map them
back to the classifier's [-1, 1] themselves. torchmetrics does not put a custom module in eval mode, so these
wrappers do, and stay there even if a parent calls `.train()`.
"""

from __future__ import annotations

from torch import Tensor, nn

from distgan.metrics.classifier import SmallCNN


class _Frozen(nn.Module):
    def __init__(self, classifier: SmallCNN) -> None:
        super().__init__()
        self.classifier = classifier
        self.eval()

    def train(self, mode: bool = True) -> _Frozen:
        """Always eval: BatchNorm statistics and dropout must not change while measuring."""
        return super().train(False)


class ClassifierFeatures(_Frozen):
    """Images (N, C, H, W) in [0, 1] -> (N, num_features) penultimate features; for torchmetrics."""

    def __init__(self, classifier: SmallCNN) -> None:
        super().__init__(classifier)
        self.num_features = classifier.feature_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier.features(x * 2 - 1)


class ClassifierLogits(_Frozen):
    """(N, C, H, W) images in [0, 1] -> (N, num_classes) logits, the input of the classifier score."""

    def __init__(self, classifier: SmallCNN) -> None:
        super().__init__(classifier)
        self.num_features = classifier.num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(x * 2 - 1)
