"""Mode coverage on 2-D mixtures, on samples whose answer is known."""

from __future__ import annotations

import pytest
import torch

from distgan.errors import DistganError
from distgan.metrics.mixtures import mixture_metrics

from .conftest import grid_modes, ring_modes, sample_mixture


@pytest.mark.parametrize(("modes", "std"), [(ring_modes(8), 0.02), (grid_modes(5), 0.05)])
def test_true_distribution_captures_every_mode(modes: torch.Tensor, std: float) -> None:
    result = mixture_metrics(sample_mixture(modes, std, 2500), modes, std)
    assert result["modes_captured"] == result["num_modes"] == len(modes)
    assert result["hq_pct"] > 97.0  # 98.9% expected in 2-D


def test_samples_on_one_mode_capture_one() -> None:
    modes = ring_modes(8)
    result = mixture_metrics(sample_mixture(modes[3:4], 0.02, 2500), modes, 0.02)
    assert result == {"modes_captured": 1, "num_modes": 8, "hq_pct": pytest.approx(98.9, abs=1.0)}


def test_far_samples_are_low_quality_and_capture_nothing() -> None:
    modes = ring_modes(8)
    spread = sample_mixture(modes, 0.5, 2500)  # 25x too wide: most samples miss every 3-std disc
    result = mixture_metrics(spread, modes, 0.02)
    assert result["hq_pct"] < 5.0
    assert mixture_metrics(torch.full((100, 2), 50.0), modes, 0.02)["modes_captured"] == 0


def test_quality_threshold_is_three_stds() -> None:
    modes = torch.zeros(1, 2)
    samples = torch.tensor([[0.29, 0.0], [0.0, -0.295], [0.31, 0.0], [float("nan"), 0.0]])
    assert mixture_metrics(samples, modes, 0.1)["hq_pct"] == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("samples", "modes", "std"),
    [
        (torch.zeros(5, 3), torch.zeros(2, 2), 1.0),
        (torch.zeros(5, 2), torch.zeros(0, 2), 1.0),
        (torch.zeros(5, 2), torch.zeros(2, 2), 0.0),
        (torch.zeros(0, 2), torch.zeros(2, 2), 1.0),
    ],
)
def test_bad_input_raises(samples: torch.Tensor, modes: torch.Tensor, std: float) -> None:
    with pytest.raises(DistganError):
        mixture_metrics(samples, modes, std)
