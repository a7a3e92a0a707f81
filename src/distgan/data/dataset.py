"""The in-memory dataset every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Dataset:
    """Float tensors (images in [-1, 1], points in their own coordinates); `test_*` is held out for evaluation.

    Images are (N, C, H, W); 2-D mixtures are (N, 2) with `kind == "points"`.
    Labels are int64 class indices, or None for unlabelled data.
    """

    name: str
    kind: str  # "image" or "points"
    train_x: torch.Tensor
    train_y: torch.Tensor | None
    test_x: torch.Tensor
    test_y: torch.Tensor | None
    num_classes: int | None
    modes: torch.Tensor | None = None  # (M, 2) mixture means, for points
    mode_std: float | None = None  # per-mode standard deviation, for points

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])

    @property
    def labelled(self) -> bool:
        return self.train_y is not None
