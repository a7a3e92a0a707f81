"""Statistics over paired seeds, from scipy.stats: Student t intervals and tests, Holm's correction within a
family of comparisons, a sign test for times that may be censored, equivalence within a margin, and the
number of paired seeds a deciding study would need (80% power)."""

from __future__ import annotations

import functools
import math
import statistics

from scipy import stats as sps

ALPHA = 0.05  # every family of comparisons holds its error rate to 5%
POWER = 0.8
MAX_SEEDS = 1000  # a study that needs more seeds than this is reported as "more than 1,000"


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided Student t quantile: t_{(1 + level) / 2, df}."""
    return float(sps.t.ppf((1 + level) / 2, df))


def mean_ci(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its Student t interval; one value gives a zero-width interval."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    half = t_quantile(len(values) - 1, level) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def censored_median(values: list[float | None]) -> float | None:
    """The median with censored values (None: never reached) ranked above every number; None when it falls on a
    censored one (the median is then only known to exceed the budget)."""
    ranked = sorted(values, key=lambda v: (v is None, v or 0.0))
    if not ranked:
        return None
    mid = len(ranked) // 2
    if len(ranked) % 2:
        return ranked[mid]
    if ranked[mid] is None:
        return None
    return (ranked[mid - 1] + ranked[mid]) / 2


def paired_t_p(diffs: list[float]) -> float:
    """Two-sided p of the paired t test that the mean difference is 0; nan for fewer than 2 pairs or no spread
    (a constant difference has no estimate of its noise, so no test)."""
    if len(diffs) < 2 or statistics.stdev(diffs) == 0:
        return math.nan
    return float(sps.ttest_1samp(diffs, 0.0).pvalue)


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact sign test (binomial, p = 1/2) over the pairs that are not ties."""
    if wins + losses == 0:
        return 1.0
    return float(sps.binomtest(wins, wins + losses, 0.5).pvalue)


def holm(p_values: list[float], alpha: float = ALPHA) -> tuple[list[float], list[float]]:
    """Holm's step-down correction over the p-values that are numbers (nan: no test, not counted in m).

    Returns (adjusted p, the level each comparison's interval uses). A comparison Holm rejects at its step i
    (0-based, in increasing p) uses 1 - alpha / (m - i), the level its test passed at; one it does not reject
    uses Bonferroni's 1 - alpha / m, so its interval contains 0 exactly when Holm keeps it."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m = len(tested)
    adjusted = [math.nan] * len(p_values)
    levels = [1 - alpha] * len(p_values)
    running = 0.0
    rejecting = True
    for step, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - step) * p))
        adjusted[i] = running
        rejecting = rejecting and p <= alpha / (m - step)
        levels[i] = 1 - alpha / (m - step) if rejecting else 1 - alpha / m
    return adjusted, levels


def seeds_to_detect(mean: float, sd: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Paired seeds for a two-sided paired t test at `alpha` to detect a true difference `mean` with spread `sd`
    at `power` (noncentral t). None: more than MAX_SEEDS (or no difference to detect)."""
    if sd == 0 or mean == 0 or math.isnan(mean) or math.isnan(sd):
        return None
    effect = abs(mean) / sd
    for n in range(2, MAX_SEEDS + 1):
        df, critical = n - 1, t_quantile(n - 1, 1 - alpha)
        shift = effect * math.sqrt(n)
        if sps.nct.sf(critical, df, shift) + sps.nct.cdf(-critical, df, shift) >= power:
            return n
    return None


def seeds_for_equivalence(mean: float, sd: float, margin: float, alpha: float = ALPHA,
                          power: float = POWER) -> int | None:
    """Paired seeds for the interval at level 1 - alpha to fall inside ±margin with `power`, if the true
    difference is `mean` with spread `sd` (two one-sided t tests, each at alpha / 2; the bound
    P(both) >= P(one) + P(other) - 1). None: the difference is not inside the margin, or more than MAX_SEEDS."""
    if margin <= 0 or abs(mean) >= margin or math.isnan(sd):
        return None
    if sd == 0:
        return 2
    for n in range(2, MAX_SEEDS + 1):
        df, critical, se = n - 1, t_quantile(n - 1, 1 - alpha), sd / math.sqrt(n)
        above = sps.nct.sf(critical, df, (mean + margin) / se)  # the lower bound lies above -margin
        below = sps.nct.cdf(-critical, df, (mean - margin) / se)  # the upper bound lies below +margin
        if above + below - 1 >= power:
            return n
    return None


def seeds_for_sign_test(wins: int, losses: int, ties: int, alpha: float = ALPHA,
                        power: float = POWER) -> int | None:
    """Paired seeds for the two-sided sign test at `alpha` to decide with `power`, if pairs keep the observed
    shares of wins, losses and ties. None: no wins or losses to go on, or more than MAX_SEEDS."""
    decided = wins + losses
    if decided == 0 or wins == losses:
        return None
    share = max(wins, losses) / decided
    untied = decided / (decided + ties)
    for n in range(1, MAX_SEEDS + 1):
        # the smallest count of the majority side at which n untied pairs reject
        critical = next((k for k in range(math.ceil(n / 2), n + 1) if sign_test_p(k, n - k) <= alpha), None)
        if critical is not None and sps.binom.sf(critical - 1, n, share) >= power:
            return math.ceil(n / untied)
    return None


def parse_share(text: str | float, flag: str) -> float:
    """A pick margin as given to --margin or --quality-margin: "20%" or 0.2. Bad input is a DistganError."""
    from distgan.errors import DistganError

    spec = str(text).strip()
    try:
        value = float(spec[:-1]) / 100 if spec.endswith("%") else float(spec)
    except ValueError:
        value = math.nan
    if not 0 < value <= 4:
        raise DistganError(f"{flag} must be a share such as 20% or 0.2 (above 0, at most 400%), got {text!r}")
    return value


def parse_margin(text: str | float) -> str:
    """An equivalence margin as given to --equivalence-margin: an amount in the measure's units ("5") or a share of the
    reference's mean final value ("10%"). Returns it as text; bad input is a DistganError."""
    from distgan.errors import DistganError

    spec = str(text).strip()
    try:
        value = float(spec[:-1] if spec.endswith("%") else spec)
    except ValueError:
        value = math.nan
    if not value > 0 or math.isinf(value):
        raise DistganError(f"--equivalence-margin must be a positive amount such as 5, or a share of the reference "
                           f"such as 10%, got {text!r}")
    return spec


def one_sided_upper(values: list[float], alpha: float = ALPHA) -> float:
    """The one-sided Student t upper bound at level 1 - alpha on the mean of `values`; inf for fewer than 2 values
    or no spread (a zero-width interval estimates no noise, so it bounds nothing)."""
    n = len(values)
    if n < 2 or any(math.isinf(v) for v in values):
        return math.inf
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))  # statistics.stdev is exact, and slow
    if sd <= 1e-12 * max(1.0, abs(mean)):
        return math.inf
    return mean + _t_upper(alpha, n - 1) * sd / math.sqrt(n)


@functools.lru_cache(maxsize=4096)
def _t_upper(alpha: float, df: int) -> float:
    return float(sps.t.ppf(1 - alpha, df))


def one_sided_lower(values: list[float], alpha: float = ALPHA) -> float:
    """The one-sided Student t lower bound at level 1 - alpha; -inf where one_sided_upper is inf."""
    if any(math.isinf(v) for v in values):
        return -math.inf
    return -one_sided_upper([-v for v in values], alpha)


def mcb_alpha(candidates: int, alpha: float = ALPHA) -> float:
    """The one-sided level of each pairwise bound in multiple comparisons with the best (Hsu 1984) over
    `candidates`: Bonferroni's alpha / (k - 1) in place of Dunnett's critical value, which assumes independent
    groups of equal variance (ours are paired seeds with unequal spreads); only the k - 1 comparisons of the
    true best with the others need to hold together, so the bounds hold for whichever candidate the data make
    the leader."""
    return alpha / max(1, candidates - 1)


def seeds_for_noninferiority(mean: float, sd: float, margin: float, alpha: float = ALPHA,
                             power: float = POWER) -> int | None:
    """Paired seeds for the one-sided upper bound at 1 - alpha on a mean difference to fall below `margin` with
    `power`, if the true difference is `mean` with spread `sd` (noncentral t). None: the difference is not below
    the margin, or more than MAX_SEEDS."""
    if math.isnan(mean) or math.isnan(sd) or mean >= margin:
        return None
    if sd == 0:
        return 2
    for n in range(2, MAX_SEEDS + 1):
        critical = float(sps.t.ppf(1 - alpha, n - 1))
        if sps.nct.sf(critical, n - 1, (margin - mean) / (sd / math.sqrt(n))) >= power:
            return n
    return None
