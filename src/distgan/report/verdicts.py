"""Verdicts: paired differences between methods over seeds, with 95% intervals, and time to a target.

Seed s gives every method the same partition, initial models and evaluation noise, so the seeds pair up:
a method's difference from the reference is taken seed by seed, and its interval is a Student t
interval over those paired differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from distgan.report import fmt
from distgan.report.aggregate import Group
from distgan.report.load import Run
from distgan.stats import mean_ci

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


def first_reached(run: Run, target: Target) -> dict[str, float] | None:
    """When the run first met the target: generator updates, real images, bytes moved and wall seconds."""
    total = (run.summary or {}).get("bytes", {})
    for record in run.evals:
        if target.reached(record):
            return {"g_updates": record.get("g_updates", record.get("step")),
                    "real_images": record.get("real_images"),
                    "bytes": _bytes_so_far(record, total), "wall_s": record.get("wall_s")}
    return None


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


def quality_verdicts(groups: list[Group], reference: str, points: bool) -> list[str]:
    key, name, lower_better = measure(points)
    ref = _reference(groups, reference)
    if ref is None:
        return [f"No reference: {reference!r} has no finished runs, so there is nothing to pair against."]
    lines = []
    for g in groups:
        if g is ref:
            continue
        diffs = paired_differences(g, ref, lambda r: (r.summary or {}).get("final_eval", {}).get(key))
        if points:
            better, worse = "reaches a higher high-quality share than", "reaches a lower high-quality share than"
        else:
            better, worse = "reaches lower FID than", "reaches higher FID than"
        lines.append(verdict_line(g.name, ref.name, diffs, lower_better, better, worse, f"final {name}"))
    return lines


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


def time_verdicts(groups: list[Group], reference: str, target: Target) -> list[str]:
    ref = _reference(groups, reference)
    if ref is None:
        return []
    lines = []
    for g in groups:
        if g is ref:
            continue
        pairs = {mine.seed: (first_reached(mine, target), first_reached(theirs, target))
                 for mine, theirs in pairs_by_seed(g, ref)}
        both = sorted(s for s, (t, t_ref) in pairs.items() if t and t_ref)
        missing = sorted(s for s, (t, t_ref) in pairs.items() if not (t and t_ref))
        diffs = [pairs[s][0]["g_updates"] - pairs[s][1]["g_updates"] for s in both]
        if not both:
            lines.append(f"{g.name} against {ref.name}: no seed where both reached the target, so no verdict on "
                         "time to target.")
            continue
        line = verdict_line(g.name, ref.name, diffs, True, "needs fewer generator updates to reach the target than",
                     "needs more generator updates to reach the target than", "generator updates to the target")
        if missing:
            line += f" Seeds {', '.join(map(str, missing))} left out: one of the two never reached the target."
        lines.append(line)
    return lines


def time_table(groups: list[Group], target: Target) -> tuple[list[str], list[list[str]]]:
    header = ["method", "N", "reached", "G updates", "real images", "bytes moved", "wall s"]
    rows = []
    for g in groups:
        reached = [t for t in (first_reached(r, target) for r in g.finished) if t]
        row = [g.label, str(g.workers), f"{len(reached)} of {len(g.finished)} seeds"]
        for key in ("g_updates", "real_images", "bytes", "wall_s"):
            values = [t[key] for t in reached if is_number(t.get(key))]
            row.append(_ci_text(values, size=key == "bytes") if values else "never reached")
        rows.append(row)
    return header, rows


def _ci_text(values: list[float], size: bool = False) -> str:
    show = fmt.size if size else fmt.number
    mean, low, high = mean_ci(values)
    if len(values) < 2:
        return f"{show(mean)} (1 seed)"
    return f"{show(mean)} [{show(low)}, {show(high)}]"


def verdict_line(name: str, ref: str, diffs: list[float], lower_better: bool, better: str, worse: str,
                 what: str) -> str:
    """One verdict: "A <better> B: difference d, 95% CI [lo, hi], n seeds", or no detectable difference."""
    if not diffs:
        return f"{name} against {ref}: no seed where both have a {what}."
    mean, low, high = mean_ci(diffs)
    if len(diffs) < 2:
        return f"{name} against {ref}: {what} difference {fmt.number(mean)} from one seed; no interval, no verdict."
    interval = f"difference {fmt.number(mean)}, 95% CI [{fmt.number(low)}, {fmt.number(high)}], {len(diffs)} seeds"
    if low <= 0 <= high:
        return f"{name} against {ref}: no detectable difference in {what} at this budget and number of seeds " \
               f"({interval})."
    return f"{name} {better if (high < 0) == lower_better else worse} {ref}: {interval}."


def _reference(groups: list[Group], reference: str) -> Group | None:
    for g in groups:
        if (g.label == reference or g.name == reference) and g.finished:
            return g
    return None


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
