"""Verdicts: each cell against the reference, paired seed by seed, in families corrected with Holm's method.

Seed s gives every method the same partition, initial models and evaluation noise, so the seeds pair up:
a method's difference from the reference is taken seed by seed. The families are: final quality against the
reference (per generator update, and again at equal real images and at equal compute), and time to target,
where a seed that never reaches the target is censored, not dropped (report/comparison.py says how each
line is tested and printed).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable

from distgan import stats
from distgan.report import costs, endpoint, fmt
from distgan.report.aggregate import Group
from distgan.report.comparison import Comparison, correct
from distgan.report.load import Run

DEFAULT_MARGIN = "10%"  # of the reference's mean final measure: see resolve_margin
MIXTURE_HQ_TARGET = 0.5  # mixtures reach the target when every mode is captured and this share is high quality


@dataclass(frozen=True)
class Target:
    points: bool
    value: float  # FID at most this (images), or high-quality share at least this with all modes (points)

    def reached(self, record: dict[str, Any]) -> bool:
        if self.points:
            return (record.get("modes_captured") == record.get("num_modes")
                    and (record.get("hq_pct") or 0) >= self.value)
        fid = record.get("fid")
        return isinstance(fid, (int, float)) and fid <= self.value

    def describe(self) -> str:
        if self.points:
            return f"every mode captured and at least {self.value:.0%} high-quality samples"
        return f"FID <= {fmt.number(self.value)}"


def default_target(points: bool, floor: float | None, target: float | None) -> Target | None:
    """--target, else 2x the real-vs-real floor (images) or 50% high quality with all modes (points)."""
    if target is not None:
        return Target(points, target)
    if points:
        return Target(True, MIXTURE_HQ_TARGET)
    return None if floor is None else Target(False, 2 * floor)


def target_reached(run: Run, target: Target) -> dict[str, float] | None:
    """When the run reached the target under the study's endpoint (report/endpoint.py: the smoothed crossing after
    which it stays reached, interpolated between evaluations): generator updates (fractional), and the real
    images, bytes moved and wall seconds spent by then, interpolated the same way. None: censored at the budget."""
    at = endpoint.reached_at(run.evals, lambda e: endpoint.score(e, target.points, target.value))
    if at is None:
        return None
    sent = endpoint.interpolate(run.evals, at, "bytes_sent")
    total = (run.summary or {}).get("bytes", {})
    return {"g_updates": at, "real_images": endpoint.interpolate(run.evals, at, "real_images"),
            "bytes": _bytes_so_far({} if sent is None else {"bytes_sent": sent}, total),
            "wall_s": endpoint.interpolate(run.evals, at, "wall_s")}


def _bytes_so_far(record: dict[str, Any], total: dict[str, Any]) -> float | None:
    """All ranks' bytes sent by this record: rank 0's running count, scaled by all ranks' final share of it."""
    if total.get("total_sent") == 0:  # a run that moves nothing (standalone) reached it with 0 bytes
        return 0.0
    rank0 = total.get("per_rank", {}).get("0", {}).get("sent", {})
    rank0_final = sum(rank0.values()) if rank0 else 0
    if not rank0_final or "bytes_sent" not in record:
        return None
    return record["bytes_sent"] * total.get("total_sent", 0) / rank0_final


def measure(points: bool) -> tuple[str, str, bool]:
    """(key, name, lower is better) of the headline quality measure."""
    return ("hq_pct", "high-quality share", False) if points else ("fid", "FID", True)


def resolve_margin(margin: float | str | None, ref: Group, key: str) -> float | None:
    """The equivalence margin in the measure's units: `margin` as given ("5" or "10%"), by default 10% of the
    reference's mean final value (a tenth of FID is about what separates visibly different sample sets at
    these scales; give --margin to set your own)."""
    spec = DEFAULT_MARGIN if margin is None else stats.parse_margin(margin)
    if not spec.endswith("%"):
        return float(spec)
    values = [v for v in ((r.summary or {}).get("final_eval", {}).get(key) for r in ref.finished) if is_number(v)]
    return abs(statistics.fmean(values)) * float(spec[:-1]) / 100 if values else None


def quality_comparisons(groups: list[Group], reference: str, points: bool,
                        margin: float | str | None = None) -> list[Comparison]:
    """Every cell's final quality against the reference, seed by seed: the family "against the reference"."""
    key, name, lower_better = measure(points)
    ref = _reference(groups, reference)
    if ref is None:
        return []
    better, worse = _phrases(points)
    bound = resolve_margin(margin, ref, key)
    return [Comparison(g.name, ref.name, f"final {name}", lower_better, better, worse,
                       diffs=paired_differences(g, ref, lambda r: final_value(r, key)), margin=bound,
                       costs=costs.costs_sentence(g, ref))
            for g in groups if g is not ref]


def equal_cost_comparisons(groups: list[Group], reference: str, points: bool,
                           spent: Callable[[Run, dict[str, Any]], float | None], at: str) -> list[Comparison]:
    """Quality of each cell against the reference with both read at the cheaper run's budget of `spent`. A pair
    that spends the same on both sides is the per-update comparison again, and one without the measure
    cannot be read at equal cost: neither joins the family."""
    key, name, lower_better = measure(points)
    ref = _reference(groups, reference)
    if ref is None:
        return []
    better, worse = _phrases(points)
    family = []
    for g in groups:
        if g is ref:
            continue
        diffs, same_cost = [], True
        for mine, theirs in pairs_by_seed(g, ref):
            budgets = [costs.final_spent(r, spent) for r in (mine, theirs)]
            same_cost = same_cost and None not in budgets and math.isclose(budgets[0], budgets[1], rel_tol=1e-9)
            x, y = costs.equal_cost_pair(mine, theirs, key, spent)
            if is_number(x) and is_number(y):
                diffs.append(x - y)
        if diffs and not same_cost:
            family.append(Comparison(g.name, ref.name, f"{name} {at}", lower_better, better, worse, diffs=diffs))
    return family


def cross_check(per_update: list[Comparison], *at_equal_cost: list[Comparison]) -> None:
    """Say on a per-update verdict where the same pair read at equal cost points the other way, or makes none."""
    for family in at_equal_cost:
        others = {(c.name, c.ref): c for c in family}
        for line in per_update:
            other = others.get((line.name, line.ref))
            if other is None or other.direction == line.direction:
                continue
            said = {-1: "better", 1: "worse", 0: "no verdict"}[other.direction]
            here = "which disagrees with this per-update verdict" if line.direction else \
                "where per update there is no verdict"
            line.extra += f"At {other.what.split(' at ', 1)[-1]} the comparison gives {said} for {line.name}, {here}. "


def quality_verdicts(groups: list[Group], reference: str, points: bool, margin: float | str | None = None) -> list[str]:
    """The family "against the reference", corrected, as report lines."""
    return [c.line() for c in correct(quality_comparisons(groups, reference, points, margin))]


def _phrases(points: bool) -> tuple[str, str]:
    if points:
        return "reaches a higher high-quality share than", "reaches a lower high-quality share than"
    return "reaches lower FID than", "reaches higher FID than"


def final_value(run: Run, key: str) -> Any:
    return (run.summary or {}).get("final_eval", {}).get(key)


def paired_differences(a: Group, b: Group, value: Callable[[Run], Any]) -> list[float]:
    """value(a's run) - value(b's run), seed by seed (`pairs_by_seed`), over the pairs where both have a number."""
    values = sorted((mine.seed, value(mine), value(theirs)) for mine, theirs in pairs_by_seed(a, b))
    return [x - y for _, x, y in values if is_number(x) and is_number(y)]


def pairs_by_seed(a: Group, b: Group) -> list[tuple[Run, Run]]:
    """(a's run, b's run) for every seed both finished: seed s gave both the same data, init and noise.
    Two runs scored by different metrics classifiers (`metrics_classifier` in summary.json) do not pair; a run
    from before the field existed pairs with any."""
    theirs = {r.seed: r for r in b.finished}
    return [(r, theirs[r.seed]) for r in a.finished if r.seed in theirs and same_classifier(r, theirs[r.seed])]


def same_classifier(a: Run, b: Run) -> bool:
    mine, theirs = a.summary.get("metrics_classifier"), b.summary.get("metrics_classifier")
    return mine is None or theirs is None or mine == theirs


def evaluation_interval(groups: list[Group]) -> int:
    """The coarsest spacing of evaluations in generator updates among `groups`: a time to target is known only
    to this."""
    gaps = []
    for g in groups:
        for run in g.finished:
            steps = sorted(e.get("g_updates", e.get("step", 0)) for e in run.evals)
            gaps += [b - a for a, b in zip([0, *steps], steps) if b > a]
    return max(gaps) if gaps else 1


def time_comparisons(groups: list[Group], reference: str, target: Target) -> list[Comparison]:
    """Generator updates to the target, each cell against the reference: the family "time to target".

    A seed that never reaches the target is censored at the budget, never dropped. With no censored seed the
    pairs are compared with a paired t test on the differences; with any, with a sign test on who got there
    first (a seed that reached beats one that did not; both missing, or both at the same evaluation, tie)."""
    ref = _reference(groups, reference)
    if ref is None:
        return []
    family = []
    for g in groups:
        if g is ref:
            continue
        interval = evaluation_interval([g, ref])  # each pair is known to the coarser of its two spacings
        resolution = f"one evaluation interval ({fmt.number(interval)} generator updates)"
        times = [(mine.seed, _updates_to(mine, target), _updates_to(theirs, target))
                 for mine, theirs in pairs_by_seed(g, ref)]
        common = dict(name=g.name, ref=ref.name, what="generator updates to the target", lower_better=True,
                      better="needs fewer generator updates to reach the target than",
                      worse="needs more generator updates to reach the target than",
                      resolution=interval, resolution_text=resolution, costs=costs.costs_sentence(g, ref))
        if all(t is not None and u is not None for _, t, u in times):
            family.append(Comparison(**common, diffs=[t - u for _, t, u in times]))
            continue
        wins = sum(t is not None and (u is None or t < u) for _, t, u in times)
        losses = sum(u is not None and (t is None or u < t) for _, t, u in times)
        missed = [f"{name} missed on seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
                  for name, seeds in ((g.name, [s for s, t, _ in times if t is None]),
                                      (ref.name, [s for s, _, u in times if u is None])) if seeds]
        family.append(Comparison(**common, outcomes=(wins, losses, len(times) - wins - losses),
                                 censored="censored at the budget: " + "; ".join(missed)))
    return family


def _updates_to(run: Run, target: Target) -> float | None:
    reached = target_reached(run, target)
    return None if reached is None else reached["g_updates"]


def time_table(groups: list[Group], target: Target) -> tuple[list[str], list[list[str]]]:
    """Per cell: on how many seeds it reached the target, and the median [min, max] over every seed of what it
    spent getting there; a seed that never reached counts as more than its whole run ("> final")."""
    header = ["method", "N", "reached", "G updates", "real images", "bytes moved", "wall s"]
    rows = []
    for g in groups:
        reached = [target_reached(r, target) for r in g.finished]
        row = [g.label, str(g.workers), f"{sum(t is not None for t in reached)} of {len(g.finished)} seeds"]
        for key in ("g_updates", "real_images", "bytes", "wall_s"):
            row.append(_censored_text([None if t is None else t.get(key) for t in reached], key == "bytes"))
        rows.append(row)
    return header, rows


def _censored_text(values: list[Any], size: bool) -> str:
    """Median [min, max] with censored seeds (None) ranked above every time, e.g. "2,500 [2,000, > final]"."""
    if not values or any(v is not None and not is_number(v) for v in values):
        return fmt.NA
    return fmt.censored(values, fmt.size if size else fmt.number)


def _reference(groups: list[Group], reference: str) -> Group | None:
    for g in groups:
        if (g.label == reference or g.name == reference) and g.finished:
            return g
    return None


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
