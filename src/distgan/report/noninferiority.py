"""The pick rule's statistics: non-inferiority against the best, by multiple comparisons with the best (MCB).

Each candidate ("arm") has, per seed, a time to the target (None where the run never reached it: censored at
its budget) and a final quality (lower is better). Everything is compared on the log scale, seed by seed, so a
margin of 20% means the same on a 10 s profile and on a 200 s one.

- Quality gate: arm i is kept when, with 95% confidence, its quality is at most (1 + quality margin) times every
  other arm's (so the best's); it is out when it is shown worse than some arm by more than that; otherwise its
  quality is unresolved. One-sided bounds at Hsu's MCB level, alpha / (k - 1) each (stats.mcb_alpha).
- Time is compared among the kept arms only: quality is a requirement, and a pick must be near the fastest of
  the arms shown to meet it. An unresolved arm is never picked and is not in the bound; the report names it
  beside the pick when it may be faster, and more seeds (--until-decided) resolve it.
- Time: arm i's regret bound is exp(max(0, max over j of the upper bound on log(t_i / t_j))), widened by the
  projection's error on both sides: with 95% confidence, picking i costs at most that factor against the true
  best. The MCB bounds hold for every arm at once, so the leader may be chosen from the same data.
- Censoring: a seed on which arm j never reached the target counts with j's budget in place of its time, which
  can only overstate log(t_i / t_j); a seed on which i never reached it leaves i's bound unbounded (its time is
  known only to exceed its budget).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from distgan import stats
from distgan.stats import censored_median

TIME_MARGIN = 0.20  # picking a method may cost at most 1.2x the true best's time: the 80-125% convention
QUALITY_MARGIN = 0.25  # final FID at most 1.25x the best's (the upper end of the same convention)


@dataclass
class Arm:
    name: str
    times: dict[int, float | None]  # seed -> time to target (None: never reached)
    budgets: dict[int, float]  # seed -> the time the run ended (a censored time exceeds it)
    quality: dict[int, float]  # seed -> final quality, lower is better, > 0
    error: float = 0.0  # the projection's relative error for this arm (its compute timing's spread)
    status: str = ""  # kept | out | unresolved (quality)
    regret: float = math.inf  # the time regret bound, as a factor
    blocking: list[tuple[str, list[float], float]] = field(default_factory=list)  # (other, log ratios, widening)

    def estimate(self) -> tuple[float, float]:
        """(censored median time, mean of the reached times): the leader has the smallest."""
        reached = [t for t in self.times.values() if t is not None]
        return (censored_median(list(self.times.values())) or math.inf,
                statistics.fmean(reached) if reached else math.inf)


def log_ratios(a: Arm, b: Arm) -> list[float]:
    """Per paired seed, an upper bound on log(t_a / t_b): b's budget where b never reached the target, inf where a
    never did."""
    out = []
    for seed in sorted(set(a.times) & set(b.times)):
        ta, tb = a.times[seed], b.times[seed]
        if ta is None:
            out.append(math.inf)
            continue
        tb = b.budgets.get(seed, math.nan) if tb is None else tb
        if not (ta > 0 and tb > 0):
            out.append(math.inf)
            continue
        out.append(math.log(ta) - math.log(tb))
    return out


def quality_log_ratios(a: Arm, b: Arm) -> list[float]:
    seeds = sorted(set(a.quality) & set(b.quality))
    return [math.log(a.quality[s]) - math.log(b.quality[s]) for s in seeds if a.quality[s] > 0 and b.quality[s] > 0]


def quality_gate(arms: list[Arm], margin: float = QUALITY_MARGIN, alpha: float = stats.ALPHA) -> None:
    """Set each arm's status: kept, out or unresolved (quality non-inferiority against every other, by MCB)."""
    level = stats.mcb_alpha(len(arms), alpha)
    bound = math.log(1 + margin)
    for a in arms:
        others = [quality_log_ratios(a, b) for b in arms if b is not a]
        upper = max((stats.one_sided_upper(d, level) for d in others), default=-math.inf)
        lower = max((stats.one_sided_lower(d, level) for d in others), default=-math.inf)
        a.status = "kept" if upper <= bound else "out" if lower > bound else "unresolved"


def regret_bounds(arms: list[Arm], alpha: float = stats.ALPHA, margin: float = TIME_MARGIN) -> None:
    """Set each arm's time regret bound (a factor >= 1) and the comparisons that keep it over 1 + margin."""
    level = stats.mcb_alpha(len(arms), alpha)
    for a in arms:
        worst, a.blocking = 0.0, []
        for b in arms:
            if b is a:
                continue
            diffs = log_ratios(a, b)
            widen = math.log1p(a.error) + math.log1p(b.error)
            upper = stats.one_sided_upper(diffs, level) + widen
            worst = max(worst, upper)
            if upper > math.log1p(margin):
                a.blocking.append((b.name, diffs, widen))
        a.regret = math.exp(worst) if worst < 700 else math.inf


@dataclass
class Pick:
    decided: bool
    pick: str | None
    leader: str | None
    within_margin: list[str]
    margin: float
    quality_margin: float


def decide_arms(arms: list[Arm], margin: float = TIME_MARGIN, quality_margin: float = QUALITY_MARGIN,
                alpha: float = stats.ALPHA) -> Pick:
    """The rule on `arms` (their statuses and bounds set in place): the pick is the leader (the kept arm with the
    best estimate) when its regret bound is within 1 + margin, else the best-estimated kept arm that is."""
    quality_gate(arms, quality_margin, alpha)
    family = [a for a in arms if a.status == "kept"]
    regret_bounds(family, alpha, margin)
    kept = sorted(family, key=Arm.estimate)
    within = [a.name for a in kept if a.regret <= 1 + margin]
    leader = kept[0].name if kept else None
    pick = leader if leader in within else (within[0] if within else None)
    return Pick(pick is not None, pick, leader, within, margin, quality_margin)


def seeds_to_decide(arm: Arm, margin: float, candidates: int, alpha: float = stats.ALPHA) -> int | None:
    """Paired seeds at which arm's regret bound would fall within 1 + margin at 80% power, at the observed mean
    and spread of each blocking comparison; None where no number of seeds would (a censored seed of this arm,
    or a comparison whose mean lies over the margin)."""
    level = stats.mcb_alpha(candidates, alpha)
    needed = []
    for _, diffs, widen in arm.blocking:
        if len(diffs) < 2 or any(math.isinf(d) for d in diffs):
            return None
        room = math.log1p(margin) - widen
        n = stats.seeds_for_noninferiority(statistics.fmean(diffs), statistics.stdev(diffs), room, level)
        if n is None:
            return None
        needed.append(n)
    return max(needed, default=None)
