"""How many updates a study whose seeds missed the target would need: each seed's FID curve, extrapolated.

Per seed, log FID is fitted against log updates (a power law, the shape a GAN's FID curve keeps once past its first
fall) by least squares (scipy.stats.linregress) over the last half of its evaluations (the fit is the smoothing; a
running median would bend the curve's end), and solved for the target; a seed whose smoothed curve (report/endpoint.py)
is at the target already needs no more. A seed whose fitted slope is not negative (its
curve has flattened, or rises) has no finite budget at its trend. The spread over seeds is the uncertainty the
report states; it is an extrapolation, and the text says so: a curve may flatten before it gets there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from scipy import stats as scipy_stats

from distgan.report import endpoint

# Checked on 84 long committed runs (benchmarks/extrapolation_check.py --cut 0.5; its results in
# benchmarks/results/extrapolation_check_half.md): fitted on the first half of a run, the extrapolation asked for a
# median 0.72x the updates the run took to reach its final smoothed FID, and at least 0.59x in 9 runs of 10. Curves
# flatten faster than a power law says, so the --steps stated is the trend's figure divided by that 0.59.
SHORTFALL_P10 = 0.59
SHORTFALL_MEDIAN = 0.72
MIN_POINTS = 3  # evaluations in the fitted tail: fewer give no slope worth extrapolating
HORIZON = 100.0  # no budget beyond 100x the run's own is stated: a power law says nothing that far out


def seed_updates(evals: list[dict[str, Any]], target: float) -> float | None:
    """The updates at which this seed's fitted curve reaches FID `target`: the run's own crossing where the smoothed
    curve is there already, math.inf where its trend never gets there (or only beyond HORIZON x the run), None where
    there are too few evaluations to fit."""
    pairs = [(e.get("g_updates", e.get("step")), e.get("fid")) for e in evals]
    pairs = [(float(s), float(f)) for s, f in pairs if isinstance(s, (int, float)) and s > 0
             and isinstance(f, (int, float)) and not isinstance(f, bool) and f > 0 and f == f]
    tail = pairs[len(pairs) // 2:]
    if len(tail) < MIN_POINTS or target <= 0:
        return None
    smoothed = endpoint.running_median([math.log(f) for _, f in pairs], endpoint.WINDOW)[len(pairs) // 2:]
    if smoothed[-1] <= math.log(target):
        return tail[-1][0]
    fit = scipy_stats.linregress([math.log(s) for s, _ in tail], [math.log(f) for _, f in tail])
    if not fit.slope < 0:
        return math.inf
    log_updates = (math.log(target) - fit.intercept) / fit.slope
    return math.exp(log_updates) if log_updates <= math.log(HORIZON * tail[-1][0]) else math.inf


def budget_text(runs: Iterable[Any], name: str, target: float, seconds_per_seed: float | None, seeds: int) -> str:
    """"; extrapolated, NAME reaches the target on every seed by about N updates (...): --steps S, a study of about T
    min" for the seeds of one candidate; "" where nothing can be fitted."""
    runs = list(runs)
    per_seed = [seed_updates(r.evals, target) for r in runs]
    fitted = [u for u in per_seed if u is not None]
    if not fitted:
        return ""
    steps = max(int((r.config or {}).get("steps") or 0) for r in runs) or None
    flat = sum(math.isinf(u) for u in fitted)
    finite = sorted(u for u in fitted if not math.isinf(u))
    how = ("extrapolating each seed's FID curve (a power law fitted to the last half of its evaluations; "
           "an extrapolation, not a measurement)")
    if flat:
        return (f"; {how}, {flat} of {len(fitted)} seeds of {name} have flattened or rise at the end of their run, "
                "so no larger --steps is sure to decide at this target: a looser --target would")
    needed = finite[-1]
    every = max(1, _eval_spacing(runs))
    suggested = int(math.ceil(needed / SHORTFALL_P10 / every) * every)
    text = (f"; {how}, {name}'s trend reaches the target on every seed by about {needed:,.0f} updates (its seeds: "
            f"{', '.join(f'{u:,.0f}' for u in finite)}); checked on long runs, such a trend fell short by a median "
            f"{1 / SHORTFALL_MEDIAN:.1f}x, and by less than {1 / SHORTFALL_P10:.1f}x in 9 runs of 10: "
            f"`--steps {suggested}`")
    if seconds_per_seed and steps:
        minutes = seconds_per_seed * seeds * suggested / steps / 60
        text += f", a study of about {minutes:,.0f} min on this machine, one cell at a time"
    return text


def _eval_spacing(runs: list[Any]) -> int:
    spacings = [int((r.config or {}).get("eval_every") or 0) for r in runs]
    return max(spacings, default=1) or 1
