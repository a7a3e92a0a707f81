"""The default target where the data has none measured: what the study's own reference reaches by half its budget.

A fixed multiple of the real-vs-real FID floor is not always within reach: on 28x28 data distgan's recipe flattens
near 4x its floor (docs/recipe.md), so a default of 2x the floor left a study on a user's own data undecidable
whatever its budget, and the user learnt so only at the end (issue 45). The rule, fixed before any comparison is
made and blind to every method but the reference:

    target = max(2 x floor, the worst over the reference's seeds of its smoothed FID at half its budget)

"Smoothed" is the endpoint's running median of WINDOW evaluations of log FID (report/endpoint.py), read at the last
evaluation within half the run's updates. So every seed of the reference was at the target by half its budget, and
the other half of the budget is what the comparison has to work with; where 2x the floor is reached sooner, that
stricter target stands, as before.
"""

from __future__ import annotations

import math
from typing import Any

from distgan.report import endpoint

SHARE_OF_BUDGET = 0.5
FLOOR_MULTIPLE = 2.0


def study_target(groups: list[Any], reference: str, floor: float | None) -> tuple[float, str] | None:
    """(FID target, how it was set) from the reference's finished runs; None when none of them has an evaluation
    within half its budget (the report then falls back to 2x the floor)."""
    seeds = [value for g in groups if g.label == reference for run in g.finished
             if (value := smoothed_fid_at(run.evals, SHARE_OF_BUDGET * float(run.config.get("steps") or 0)))]
    if not seeds:
        return None
    worst = max(seeds)
    if floor and FLOOR_MULTIPLE * floor >= worst:
        return FLOOR_MULTIPLE * floor, (f"{FLOOR_MULTIPLE:g}x the real-vs-real FID floor, reached by every seed of "
                                        f"{reference} within half its budget (the default)")
    unit = 10.0 ** (math.floor(math.log10(worst)) - 2)  # rounded up to 3 figures: a target a reader can repeat
    value = round(math.ceil(worst / unit - 1e-9) * unit, 10)
    return value, (f"the worst smoothed FID of {reference}'s {len(seeds)} seeds at half its budget: the default "
                   "where the data has no measured target, since 2x the floor"
                   + (f", {FLOOR_MULTIPLE * floor:.3g}," if floor else "") + " is not reached that soon")


def smoothed_fid_at(evals: list[dict[str, Any]], update: float) -> float | None:
    """The running median of log FID at the last evaluation at or before `update`, as an FID."""
    pairs = [(e.get("g_updates", e.get("step")), e.get("fid")) for e in evals]
    pairs = [(s, f) for s, f in pairs if isinstance(s, (int, float)) and isinstance(f, (int, float))
             and not isinstance(f, bool) and f > 0 and f == f]
    within = [i for i, (s, _) in enumerate(pairs) if s <= update]
    if not within or update <= 0:
        return None
    curve = endpoint.running_median([math.log(f) for _, f in pairs], endpoint.WINDOW)
    return math.exp(curve[within[-1]])
