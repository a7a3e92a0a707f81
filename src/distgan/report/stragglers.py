"""Time to target against the straggler factor (`--slow RANK:FACTOR`), when a study sweeps it.

A run's factor is the largest in its `--slow` (1 when it has none). One line per method: the mean over
seeds of the wall time at which the run first met the target; runs that never met it are left out.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from distgan.checkpoint import atomic_write_bytes  # noqa: E402
from distgan.report.load import Run  # noqa: E402
from distgan.report.verdicts import Target, target_reached  # noqa: E402


def factor(run: Run) -> float:
    slow = run.config.get("slow") or []
    return max((float(s.split(":")[1]) for s in slow), default=1.0)


def sweeps(runs: list[Run]) -> bool:
    """Whether some method ran finished cells at two or more straggler factors."""
    factors: dict[str, set[float]] = {}
    for run in runs:
        if run.summary is not None:
            factors.setdefault(str(run.config.get("method")), set()).add(factor(run))
    return any(len(f) >= 2 for f in factors.values())


def straggler_plot(runs: list[Run], target: Target, path: Path) -> list[str]:
    """Draw the plot; return the runs that never met the target (left out), as 'method xF seed S'."""
    times: dict[str, dict[float, list[float]]] = {}
    missed = []
    for run in runs:
        if run.summary is None:
            continue
        method, f = str(run.config.get("method")), factor(run)
        reached = target_reached(run, target)
        if reached is None or reached.get("wall_s") is None:
            missed.append(f"{method} x{f:g} seed {run.config.get('seed')}")
            continue
        times.setdefault(method, {}).setdefault(f, []).append(float(reached["wall_s"]))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for method, by_factor in sorted(times.items()):
        fs = sorted(by_factor)
        ax.plot(fs, [sum(by_factor[f]) / len(by_factor[f]) for f in fs], marker="o", label=method)
    ax.set_xlabel("straggler factor (--slow RANK:FACTOR; 1: none)")
    ax.set_ylabel(f"wall seconds to {target.describe()}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()  # written whole and renamed: never through a link planted at `path`
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return missed
