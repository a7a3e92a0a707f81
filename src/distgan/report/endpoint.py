"""When a run reached the target: the smoothed, sustained crossing of docs/compare.md ("The endpoint").

A GAN's FID curve dips and comes back: "the first evaluation at or below the target" rewards a lucky dip and
made updates-to-target the noisiest number in a study. The endpoint is instead read from a running median of
the log distance to the target, over WINDOW evaluations centred on each one, and is the first point after
which that smoothed curve stays at or below the target for the rest of the run; between the two evaluations
that bracket the crossing it is interpolated linearly, so it is not rounded up to an evaluation. The rule was
chosen on the committed cells of studies/demo-default and confirmed on fresh seeds (benchmarks/endpoint_choice.py,
its results in docs/compare.md), before any study under the new pick rule was read.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

WINDOW = 3  # evaluations in the running median
RULES = ("first", "sustained", "median3", "median5", "median3-first")
RULE = "median3"
DESCRIPTION = ("a running median of 3 evaluations of log(FID / target) that stays at or below 0 to the end of the "
               "run, interpolated between evaluations")


def score(record: dict[str, Any], points: bool, value: float) -> float | None:
    """How far one evaluation is from the target: <= 0 once it is met. Images: log FID - log target; 2-D mixtures:
    the high-quality share short of the target once every mode is captured, else 1."""
    if points:
        if record.get("modes_captured") is None:
            return None
        hq = record.get("hq_pct") or 0.0
        return value - hq if record.get("modes_captured") == record.get("num_modes") else 1.0
    fid = record.get("fid")
    if not isinstance(fid, (int, float)) or isinstance(fid, bool) or fid != fid or fid <= 0 or value <= 0:
        return None
    return math.log(fid) - math.log(value)


def running_median(values: Sequence[float], window: int) -> list[float]:
    """Centred running median; the ends use the part of the window that exists."""
    half = window // 2
    return [statistics.median(values[max(0, i - half): i + half + 1]) for i in range(len(values))]


def crossing(steps: Sequence[float], scores: Sequence[float], rule: str = RULE) -> float | None:
    """The (fractional) step at which `scores` cross to <= 0 under `rule`; None: not reached (censored).

    first: the first evaluation at or below (the old endpoint); sustained: the last crossing after which every
    evaluation stays at or below, interpolated; median3 / median5: the same on a running median of 3 / 5;
    median3-first: the first crossing of the running median of 3, interpolated."""
    if not steps:
        return None
    if rule == "first":
        return next((s for s, v in zip(steps, scores) if v <= 0), None)
    window = {"sustained": 1, "median3": 3, "median5": 5, "median3-first": 3}[rule]
    curve = running_median(list(scores), window) if window > 1 else list(scores)
    if rule.endswith("-first"):
        i = next((k for k, v in enumerate(curve) if v <= 0), None)
    else:
        if curve[-1] > 0:
            return None
        i = len(curve) - 1
        while i > 0 and curve[i - 1] <= 0:
            i -= 1
    if i is None:
        return None
    if i == 0:
        return float(steps[0])
    (s0, v0), (s1, v1) = (steps[i - 1], curve[i - 1]), (steps[i], curve[i])
    return float(s1) if v0 == v1 else float(s0 + (s1 - s0) * v0 / (v0 - v1))


def reached_at(evals: list[dict[str, Any]], reached: Callable[[dict[str, Any]], float | None],
               rule: str = RULE) -> float | None:
    """The generator update (fractional) at which a run's evaluations reach the target under `rule`."""
    pairs = [(e.get("g_updates", e.get("step")), reached(e)) for e in evals]
    pairs = [(s, v) for s, v in pairs if isinstance(s, (int, float)) and v is not None]
    return crossing([s for s, _ in pairs], [v for _, v in pairs], rule)


def interpolate(evals: list[dict[str, Any]], at: float, key: str) -> float | None:
    """`key` (wall_s, bytes_sent, real_images) at generator update `at`, linear between the evaluations around it."""
    points = [(e.get("g_updates", e.get("step")), e.get(key)) for e in evals]
    points = [(s, v) for s, v in points if isinstance(s, (int, float)) and isinstance(v, (int, float))]
    if not points:
        return None
    for (s0, v0), (s1, v1) in zip(points, points[1:]):
        if s0 <= at <= s1:
            return v0 if s1 == s0 else v0 + (v1 - v0) * (at - s0) / (s1 - s0)
    return points[0][1] if at <= points[0][0] else points[-1][1]
