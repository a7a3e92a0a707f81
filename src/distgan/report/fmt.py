"""Numbers as the report shows them: mean ± 95% CI over seeds, byte sizes, and `n/a` where a measure does not exist."""

from __future__ import annotations

import math

from distgan.report.aggregate import Stat
from distgan.stats import censored_median, t_quantile

NA = "n/a"


def number(value: float, digits: int = 3) -> str:
    if math.isnan(value):
        return "nan"
    if value != 0 and (abs(value) >= 10**6 or abs(value) < 10 ** -(digits - 1)):
        return f"{value:.{digits - 1}e}"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def stat(s: Stat | None, digits: int = 3) -> str:
    """"12.3 ± 0.4" over several seeds (± the half-width of a 95% Student t interval), "12.3 (1 seed)" for
    one, "n/a" for none."""
    if s is None:
        return NA
    mean, spread, n = s
    if n < 2:
        return f"{number(mean, digits)} (1 seed)"
    return f"{number(mean, digits)} ± {spread_text(half_width(spread, n))}"


def half_width(spread: float, n: int) -> float:
    """Half-width of the 95% Student t interval of a mean of n values with sample standard deviation `spread`."""
    return t_quantile(n - 1) * spread / math.sqrt(n)


def spread_text(spread: float) -> str:
    """A standard deviation to two significant digits without exponents where avoidable: 0.013, 7.1, 40."""
    if math.isnan(spread):
        return "nan"
    return f"{spread:,.0f}" if spread >= 10 else f"{spread:.2g}"


def size(num_bytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(num_bytes) < 1000 or unit == "TB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.3g} {unit}"
        num_bytes /= 1000
    return f"{num_bytes:.3g} TB"


def size_stat(s: Stat | None) -> str:
    if s is None:
        return NA
    mean, spread, n = s
    return size(mean) if n < 2 or spread == 0 else f"{size(mean)} ± {size(half_width(spread, n))}"


def pair(a: str, b: str) -> str:
    """Two cells in one, e.g. sent / received; a single n/a when both are."""
    return NA if a == b == NA else f"{a} / {b}"


def censored(values: list[float | None], show=number, beyond: str = "> final") -> str:
    """Median [min, max] over seeds, a censored seed (None) ranked above every number and shown as `beyond`:
    "2,500 [2,000, > final]"; "(1 seed)" for one; "never reached" when every seed is censored."""
    if all(v is None for v in values):
        return "never reached"

    def text(v: float | None) -> str:
        return beyond if v is None else show(v)
    if len(values) == 1:
        return f"{text(values[0])} (1 seed)"
    ranked = sorted(values, key=lambda v: (v is None, v or 0.0))
    return f"{text(censored_median(values))} [{text(ranked[0])}, {text(ranked[-1])}]"
