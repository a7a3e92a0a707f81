"""One paired comparison between two cells, the family it is corrected in, and the sentence the report prints.

A comparison is tested on its own (a paired Student t test on the seed-by-seed differences, or a sign test
where some seeds are censored); a family then applies Holm's correction over its m tested comparisons, and
each line prints its interval at the level that matches the correction. Lines never call a difference a
verdict when its interval has zero width, when it is below the measure's resolution, or when Holm keeps it;
they say "equivalent within ±M" when the corrected interval lies inside the margin, and otherwise how many
paired seeds would decide.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from distgan import stats
from distgan.report import fmt


@dataclass
class Comparison:
    """`name` against `ref` on one measure: a - b seed by seed (`diffs`), or, for censored times, the pairs that
    `name` won, lost and tied (`outcomes`)."""

    name: str
    ref: str
    what: str  # "final FID", "generator updates to the target", ...
    lower_better: bool
    better: str  # "reaches lower FID than"
    worse: str
    diffs: list[float] = field(default_factory=list)
    outcomes: tuple[int, int, int] | None = None  # (wins, losses, ties) of `name`; use the sign test
    censored: str = ""  # which seeds never reached, said on the line
    resolution: float = 0.0  # a mean difference smaller than this is below what the measure resolves
    resolution_text: str = ""  # "one evaluation interval (1,000 generator updates)"
    margin: float | None = None  # equivalence margin, in the measure's units
    units: float = 1.0  # shown values are diffs / units
    costs: str = ""  # what one step costs on each side
    extra: str = ""  # said after the verdict
    p: float = math.nan
    p_adjusted: float = math.nan
    level: float = 1 - stats.ALPHA
    family_size: int = 1

    def __post_init__(self) -> None:
        if self.outcomes is not None:
            wins, losses, _ = self.outcomes
            self.p = stats.sign_test_p(wins, losses) if wins + losses else math.nan
        elif not self._below_resolution():
            self.p = stats.paired_t_p(self.diffs)

    def _below_resolution(self) -> bool:
        return bool(self.diffs) and self.resolution > 0 and abs(statistics.fmean(self.diffs)) < self.resolution

    @property
    def decided(self) -> bool:
        """Holm rejects "no difference" (and, for a t test, the matching interval excludes 0)."""
        return not math.isnan(self.p_adjusted) and self.p_adjusted <= stats.ALPHA

    @property
    def direction(self) -> int:
        """-1: `name` is better, +1: worse, 0: no verdict."""
        if not self.decided:
            return 0
        if self.outcomes is not None:
            return -1 if self.outcomes[0] > self.outcomes[1] else 1
        lower = statistics.fmean(self.diffs) < 0
        return -1 if lower == self.lower_better else 1

    @property
    def equivalent(self) -> bool:
        """The corrected interval, widened by the measure's resolution on each side (a time is known only to one
        evaluation interval), lies inside ±margin. Without a resolution a zero-width interval says nothing."""
        if self.margin is None or self.outcomes is not None or len(self.diffs) < 2 or self.decided:
            return False
        if statistics.stdev(self.diffs) == 0 and not self.resolution:
            return False
        _, low, high = stats.mean_ci(self.diffs, self.level)
        return -self.margin < low - self.resolution and high + self.resolution < self.margin

    def interval(self) -> tuple[float, float, float]:
        return stats.mean_ci(self.diffs, self.level)

    def line(self) -> str:
        text = self._verdict()
        return " ".join(part.strip() for part in (text, self.costs, self.extra) if part.strip())

    def _show(self, value: float) -> str:
        return fmt.number(value / self.units)

    def _verdict(self) -> str:
        pair = f"{self.name} against {self.ref}"
        if self.outcomes is not None:
            return self._sign_verdict(pair)
        if not self.diffs:
            return f"{pair}: no seed where both have a {self.what}."
        if len(self.diffs) < 2:
            return f"{pair}: {self.what} difference {self._show(self.diffs[0])} from one seed; no interval, no verdict."
        mean, n = statistics.fmean(self.diffs), len(self.diffs)
        if self.equivalent:
            widened = f", widened by {self.resolution_text}" if self.resolution else ""
            return (f"{pair}: equivalent within ±{self._show(self.margin)} in {self.what} (the corrected interval"
                    f"{widened}, lies inside the margin; {self._interval_text()}).")
        if statistics.stdev(self.diffs) == 0:
            if mean == 0:
                return f"{pair}: the same {self.what} on every one of {n} seeds (difference 0); nothing to test."
            return (f"{pair}: {self.what} differs by exactly {self._show(mean)} on every one of {n} seeds; a "
                    "zero-width interval estimates no noise, so no verdict.")
        if self._below_resolution():
            return (f"{pair}: within {self.resolution_text} in {self.what} (difference {self._show(mean)}, {n} "
                    "seeds): below what the measure resolves, so no verdict.")
        interval = self._interval_text()
        if self.decided:
            side = self.better if self.direction < 0 else self.worse
            return f"{self.name} {side} {self.ref}: {interval}."
        return f"{pair}: no detectable difference in {self.what} ({interval}).{self._what_would_decide()}"

    def _interval_text(self) -> str:
        mean, low, high = self.interval()
        return (f"difference {self._show(mean)}, {_level(self.level)} CI [{self._show(low)}, {self._show(high)}], "
                f"{len(self.diffs)} paired seeds, paired t {self._p_line()}")

    def _p_line(self) -> str:
        if self.family_size <= 1:
            return f"p = {p_text(self.p)}"
        return f"p = {p_text(self.p)}, Holm-adjusted {p_text(self.p_adjusted)} over {self.family_size}"

    def _what_would_decide(self) -> str:
        mean, sd = statistics.fmean(self.diffs), statistics.stdev(self.diffs)
        alpha = stats.ALPHA / self.family_size  # Bonferroni: what a line needs at worst within this family
        parts = []
        detect = stats.seeds_to_detect(mean, sd, alpha)
        if detect is not None:
            parts.append(f"{detect} paired seeds would detect a difference of this size")
        if self.margin is not None:
            same = stats.seeds_for_equivalence(mean, sd, self.margin, alpha)
            if same is not None:
                parts.append(f"{same} would show equivalence within ±{self._show(self.margin)}")
        if not parts:
            return (f" More than {stats.MAX_SEEDS:,} paired seeds would be needed to decide at this spread."
                    if detect is None and mean != 0 else "")
        return " " + " and ".join(parts) + " (80% power, at this spread)."

    def _sign_verdict(self, pair: str) -> str:
        wins, losses, ties = self.outcomes or (0, 0, 0)
        n = wins + losses + ties
        tally = f"{self.name} first on {wins}, {self.ref} first on {losses}, tied on {ties} of {n} paired seeds"
        censored = f"; {self.censored}" if self.censored else ""
        if n == 0:
            return f"{pair}: no paired seeds."
        if wins + losses == 0:
            return f"{pair}: tied on every one of {n} seeds ({self.what}{censored}); no verdict."
        test = f"sign test {self._p_line()}"
        if self.decided:
            side = self.better if self.direction < 0 else self.worse
            return f"{self.name} {side} {self.ref}: {tally} ({test}{censored})."
        needed = stats.seeds_for_sign_test(wins, losses, ties, stats.ALPHA / self.family_size)
        decide = f" {needed} paired seeds would decide (80% power, at these shares)." if needed else ""
        return f"{pair}: no detectable difference in {self.what}: {tally} ({test}{censored}).{decide}"


def correct(family: list[Comparison]) -> list[Comparison]:
    """Holm's correction within `family`: sets each comparison's adjusted p, interval level and family size."""
    adjusted, levels = stats.holm([c.p for c in family])
    m = sum(not math.isnan(c.p) for c in family)
    for c, p, level in zip(family, adjusted, levels):
        c.p_adjusted, c.level, c.family_size = p, level, max(1, m)
    return family


def family_note(name: str, family: list[Comparison], test: str) -> str:
    """The sentence that heads a family: its size, the correction, the test and the intervals."""
    m = sum(not math.isnan(c.p) for c in family)
    if m == 0:
        return (f"{name}: no comparison here could be tested (one seed, no spread, or below the measure's "
                f"resolution), so none is a verdict; {test}.")
    if m == 1:
        return (f"{name}: one tested comparison, so no correction; {test}; 95% interval; a verdict needs p <= "
                f"{stats.ALPHA:g}.")
    return (f"{name}: a family of {m} tested comparisons, corrected with Holm's step-down method (family-wise "
            f"error 5%); {test}. A verdict needs its Holm-adjusted p <= {stats.ALPHA:g}; its interval is at the level "
            f"Holm's step tested it at (1 - 0.05/(m - i + 1) for the i-th smallest p), and a line Holm keeps shows "
            f"the Bonferroni level 1 - 0.05/{m} = {_level(1 - stats.ALPHA / m)}.")


def _level(level: float) -> str:
    text = f"{100 * level:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def p_text(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"
