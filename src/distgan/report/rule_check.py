"""The pick rule checked by simulation: how often it picks a method whose true time is more than the margin worse
than the best (a false pick), and how often it decides at all (power). Used by the test of the rule and by
benchmarks/pick_rule_simulation.py, whose results docs/compare.md quotes.

Each simulated study has k methods and n paired seeds. A method's log time to the target on seed s is its true
log time, plus a seed effect shared by every method on s (the same data, initial models and noise), plus its
own noise; its log final FID likewise. The spreads default to those of the committed default study
(SPREADS): the paired log ratios of time there have an sd of about 0.21 (benchmarks/results/endpoint_choice.md),
so each method's own noise is 0.21 / sqrt(2); final FID's is about 0.05.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from distgan.report.noninferiority import QUALITY_MARGIN, TIME_MARGIN, Arm, decide_arms

SPREADS = {"time": 0.21 / math.sqrt(2), "seed": 0.10, "quality": 0.05}


@dataclass
class Outcome:
    trials: int
    decided: int
    false_picks: int

    @property
    def false_pick_rate(self) -> float:
        return self.false_picks / self.trials

    @property
    def decided_rate(self) -> float:
        return self.decided / self.trials


def simulate(true_log_times: list[float], seeds: int, trials: int, rng: random.Random,
             margin: float = TIME_MARGIN, spreads: dict[str, float] | None = None) -> Outcome:
    """Run the rule on `trials` simulated studies whose methods have these true log times (equal true quality)."""
    spread = {**SPREADS, **(spreads or {})}
    best = min(true_log_times)
    too_slow = {i for i, t in enumerate(true_log_times) if t - best > math.log1p(margin)}
    decided = false = 0
    for _ in range(trials):
        seed_effects = [rng.gauss(0, spread["seed"]) for _ in range(seeds)]
        arms = []
        for i, mean in enumerate(true_log_times):
            times = {s: math.exp(5 + mean + seed_effects[s] + rng.gauss(0, spread["time"])) for s in range(seeds)}
            quality = {s: math.exp(2.5 + rng.gauss(0, spread["quality"])) for s in range(seeds)}
            arms.append(Arm(str(i), times, {s: math.inf for s in range(seeds)}, quality))
        pick = decide_arms(arms, margin, QUALITY_MARGIN)
        decided += pick.decided
        false += pick.decided and int(pick.pick) in too_slow
    return Outcome(trials, decided, false)


def least_favourable(k: int, margin: float = TIME_MARGIN) -> list[float]:
    """One best method and k - 1 just beyond the margin: where a false pick is likeliest."""
    return [0.0] + [math.log1p(margin) + 1e-6] * (k - 1)
