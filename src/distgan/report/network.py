"""The crossover bandwidths of `distgan report --network`, below which one method reaches the target later than
another.

Each run's trace is replayed on the profile (distgan.network); for the crossovers, on the same profile at
bandwidths from 1 Mbit/s to 100 Gbit/s (its latency and its up/down ratio kept).
"""

from __future__ import annotations

import bisect
import logging
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distgan.network.profiles import Link, Profile, rate_text
from distgan.network.replay import Replay
from distgan.report.aggregate import Group
from distgan.report.load import Run
from distgan.report.verdicts import Target, target_reached

log = logging.getLogger(__name__)
GRID = [1e6 * 10 ** (k / 4) for k in range(21)]  # 1 Mbit/s .. 100 Gbit/s, four per decade


def at_step(replayed: Replay, step: int) -> float | None:
    """Projected seconds when rank 0 finished the record that holds generator update `step`."""
    keys = sorted(replayed.step_end_s)
    i = bisect.bisect_left(keys, step)
    return replayed.step_end_s[keys[i]] if i < len(keys) else None


def at_update(replayed: Replay, update: float) -> float | None:
    """Projected seconds at a fractional generator update: linear between the records around it (the endpoint
    interpolates between evaluations, so its time does too), from 0 s at update 0."""
    keys = sorted(replayed.step_end_s)
    i = bisect.bisect_left(keys, update)
    if i == len(keys):
        return None
    if keys[i] == update:
        return replayed.step_end_s[keys[i]]
    s0, t0 = (keys[i - 1], replayed.step_end_s[keys[i - 1]]) if i else (0, 0.0)
    s1, t1 = keys[i], replayed.step_end_s[keys[i]]
    return t0 + (t1 - t0) * (update - s0) / (s1 - s0)


def scaled(profile: Profile, bps: float) -> Profile:
    """The profile at `bps` up, its down link in the same ratio, its latency kept."""
    link = profile.link
    return Profile(rate_text(bps), Link(bps, bps * link.down_bps / link.up_bps, link.latency_s))


def crossover_part(groups: list[Group], profile: Profile, target: Target | None, projections: Any) -> list[str]:
    """The crossover lines on `profile`'s latency, at bandwidths from 1 Mbit/s to 100 Gbit/s. `projections` is the
    report's cache of each run's projector (report/projections.py), so no trace is read twice."""
    found: dict[Path, Callable[[Profile], Replay]] = {}
    lines = []
    for g in groups:
        for run in g.finished:
            on = projections.projector(run)
            if on is None:
                lines.append(f"{g.name}: not projected ({projections.failed[run.path]}).")
            else:
                found[run.path] = on
    return lines + crossover_lines(groups, found, profile, target)


def time_to_target(run: Run, on: Callable[[Profile], Replay], profile: Profile, target: Target) -> float | None:
    reached = target_reached(run, target)
    return None if reached is None else at_update(on(profile), reached["g_updates"])


def crossover_lines(groups: list[Group], projections: dict[Path, Callable[[Profile], Replay]], profile: Profile,
                    target: Target | None) -> list[str]:
    """For every two cells that reach the target: the bandwidth below which one reaches it later than the other."""
    if target is None:
        return ["No crossover: there is no target to reach (give --target)."]
    curves: dict[str, list[float | None]] = {}
    seeds: dict[str, int] = {}
    for g in groups:
        runs = [r for r in g.finished if r.path in projections and target_reached(r, target) is not None]
        if not runs:
            continue
        seeds[g.name] = len(runs)
        curve = []
        for bps in GRID:
            times = [time_to_target(r, projections[r.path], scaled(profile, bps), target) for r in runs]
            times = [t for t in times if t is not None]
            curve.append(statistics.fmean(times) if times else None)
        curves[g.name] = curve
    if len(curves) < 2:
        return ["No crossover: fewer than two projected cells reach the target "
                f"({target.describe()})."]
    names, lines = list(curves), []
    span = f"from {rate_text(GRID[0])} to {rate_text(GRID[-1])}, {profile.link.latency_s * 1e3:g} ms latency"
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            n = min(seeds[a], seeds[b])
            lines.append(_crossing(a, b, curves[a], curves[b], target,
                                   f"{span}; {'1 seed' if n == 1 else f'means over {n} or more seeds'}"))
    return lines


def _crossing(a: str, b: str, ta: list[float | None], tb: list[float | None], target: Target, span: str) -> str:
    pairs = [(bps, x - y) for bps, x, y in zip(GRID, ta, tb) if x is not None and y is not None]
    goal = target.describe()
    for (lo, d_lo), (hi, d_hi) in zip(pairs, pairs[1:]):
        if d_lo == 0 or not (d_lo * d_hi < 0 or d_hi == 0):
            continue
        frac = d_lo / (d_lo - d_hi)  # where the difference crosses zero, interpolated on a log bandwidth axis
        cross = math.exp(math.log(lo) + frac * (math.log(hi) - math.log(lo)))
        slow, fast = (a, b) if d_lo > 0 else (b, a)
        return (f"Crossover at about {rate_text(cross)}: below it {slow} reaches {goal} later than {fast}, "
                f"above it sooner ({span}).")
    if not pairs:
        return f"{a} and {b}: no bandwidth at which both reach {goal}."
    first, other = (b, a) if pairs[0][1] > 0 else (a, b)
    return f"No crossover between {a} and {b}: {first} reaches {goal} before {other} at every bandwidth ({span})."
