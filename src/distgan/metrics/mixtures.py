"""Mode coverage and sample quality on 2-D Gaussian mixtures, by the rule of VEEGAN and PacGAN.

A sample is high quality if it lies within 3 standard deviations (Euclidean distance) of its nearest mixture
mean; a mode is captured if it is the nearest mean of at least one high-quality sample. Both papers draw
2,500 samples; drawing them is the caller's job (the evaluator does it by default). Even samples from the
true mixture are high quality only about 98.9% of the time in 2-D (1 - exp(-9/2)).
"""

from __future__ import annotations

import torch
from torch import Tensor

from distgan.errors import DistganError

DEFAULT_NUM_SAMPLES = 2500
HQ_RADIUS_STDS = 3.0


def mixture_metrics(samples: Tensor, modes: Tensor, std: float) -> dict[str, float | int]:
    """{"modes_captured", "num_modes", "hq_pct" (percent, 0..100)} for (N, 2) samples and (M, 2) means."""
    if samples.dim() != 2 or samples.shape[1] != 2 or len(samples) == 0:
        raise DistganError(f"mixture samples must have shape (N>0, 2), got {tuple(samples.shape)}")
    if modes.dim() != 2 or modes.shape[1] != 2 or len(modes) == 0:
        raise DistganError(f"mixture modes must have shape (M>0, 2), got {tuple(modes.shape)}")
    if not std > 0:
        raise DistganError(f"mixture mode_std must be positive, got {std}")
    samples = samples.detach().cpu().double()
    distance, nearest = torch.cdist(samples, modes.detach().cpu().double()).min(dim=1)
    high_quality = distance <= HQ_RADIUS_STDS * std  # NaN samples compare False: never high quality
    return {
        "modes_captured": int(nearest[high_quality].unique().numel()),
        "num_modes": len(modes),
        "hq_pct": 100.0 * float(high_quality.double().mean()),
    }
