"""Confidence intervals over seeds: Student t, from a table so no statistics library is needed."""

from __future__ import annotations

import statistics

# two-sided 95% quantiles t_{0.975, df} for df = 1..30 (any statistics table); above 30, the normal's 1.96
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t_quantile(df: int) -> float:
    return T975[df - 1] if df <= len(T975) else 1.96


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its 95% Student t interval; one value gives a zero-width interval."""
    mean = statistics.mean(values)
    if len(values) < 2:
        return mean, mean, mean
    half = t_quantile(len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half
