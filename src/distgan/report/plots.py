"""The report's figures, drawn with matplotlib's Agg backend into PNG files."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from matplotlib.axes import Axes  # noqa: E402

from distgan.checkpoint import atomic_write_bytes  # noqa: E402
from distgan.report.aggregate import Group, curve, final, summary_stat  # noqa: E402

X_LABELS = {"g_updates": "generator updates", "wall_s": "wall seconds",
            "bytes": "bytes moved over the network (all ranks)"}
Y_LABELS = {"fid": "FID (lower is better)", "modes_captured": "modes captured", "hq_pct": "high-quality samples %"}
LINESTYLES = ["-", "--", ":", "-."]
MAX_SHADED = 5  # more lines than this and the ± std bands hide each other, so they are left out
DPI = 110


def measures(points: bool) -> list[str]:
    return ["modes_captured", "hq_pct"] if points else ["fid"]


def _styles(groups: list[Group]) -> dict[tuple[str, int], dict]:
    """One colour per label and one line style per worker count, the same in every figure."""
    labels = list(dict.fromkeys(g.label for g in groups))
    counts = sorted({g.workers for g in groups})
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    return {(g.label, g.workers): {"color": cmap(labels.index(g.label) % cmap.N),
                                   "linestyle": LINESTYLES[counts.index(g.workers) % len(LINESTYLES)]}
            for g in groups}


def curves_plot(groups: list[Group], x: str, path: Path, points: bool, floor: float | None = None) -> list[str]:
    """Each measure against `x`, one line per cell (mean over seeds, std shaded); return the cells left out."""
    styles = _styles(groups)
    panels = measures(points)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels) + 2.4, 4.0), squeeze=False)
    left_out = []
    shade = sum(bool(g.finished) for g in groups) <= MAX_SHADED
    for ax, measure in zip(axes[0], panels):
        for g in groups:
            xs, ys, sds = curve(g, measure, x)
            if x == "bytes":  # a log axis cannot show zero bytes (standalone moves none)
                kept = [(a, b, c) for a, b, c in zip(xs, ys, sds) if a > 0]
                xs, ys, sds = ([list(v) for v in zip(*kept)] if kept else ([], [], []))
            if not xs:
                if measure == panels[0]:
                    left_out.append(g.name)
                continue
            ax.plot(xs, ys, marker="o", markersize=3, label=g.name, **styles[(g.label, g.workers)])
            if shade and any(sds):
                ax.fill_between(xs, [m - s for m, s in zip(ys, sds)], [m + s for m, s in zip(ys, sds)],
                                color=styles[(g.label, g.workers)]["color"], alpha=0.15, linewidth=0)
        _decorate(ax, measure, x, floor, _num_modes(groups))
    _legend(fig, axes[0][-1])
    _save(fig, path)
    return left_out


def _num_modes(groups: list[Group]) -> int | None:
    found = [e["num_modes"] for g in groups for r in g.runs for e in r.evals if isinstance(e.get("num_modes"), int)]
    return max(found) if found else None


def _decorate(ax: Axes, measure: str, x: str, floor: float | None, num_modes: int | None = None) -> None:
    ax.set_xlabel(X_LABELS.get(x, x))
    ax.set_ylabel(Y_LABELS[measure])
    ax.grid(True, alpha=0.3)
    if x == "bytes":
        ax.set_xscale("log")
    if measure == "fid":
        if floor is not None:
            ax.axhline(floor, color="grey", linestyle="--", linewidth=1, label="real vs real floor")
        low, high = ax.get_ylim()
        if low > 0 and high / low > 20:
            ax.set_yscale("log")
    if measure == "hq_pct":
        ax.set_ylim(-2, 102)
    if measure == "modes_captured":
        ax.set_ylim(-0.2, (num_modes or ax.get_ylim()[1]) + 0.2)
        ax.yaxis.get_major_locator().set_params(integer=True)


def _legend(fig: plt.Figure, ax: Axes) -> None:
    handles, labels = [], []
    for a in fig.axes:
        for h, lab in zip(*a.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    buffer = io.BytesIO()  # written whole and renamed: never through a link planted at `path`
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def scales(groups: list[Group]) -> bool:
    """Whether some label ran at two or more worker counts, so a scaling plot has something to show."""
    counts: dict[str, set[int]] = {}
    for g in groups:
        if g.finished:
            counts.setdefault(g.label, set()).add(g.workers)
    return any(len(c) >= 2 for c in counts.values())


def scaling_plot(groups: list[Group], path: Path, points: bool) -> None:
    """Throughput and final quality against the number of workers; single-count labels as dotted references."""
    styles = _styles(groups)
    quality = "modes_captured" if points else "fid"
    fig, axes = plt.subplots(1, 2, figsize=(12.8, 4.0))
    labels = list(dict.fromkeys(g.label for g in groups if g.finished))
    all_counts = sorted({g.workers for g in groups if g.finished})
    for label in labels:
        mine = sorted((g for g in groups if g.label == label and g.finished), key=lambda g: g.workers)
        color = styles[(mine[0].label, mine[0].workers)]["color"]
        for ax, value in zip(axes, (lambda g: summary_stat(g, "g_updates_per_s"), lambda g: final(g, quality))):
            points_ = [(g.workers, value(g)) for g in mine if value(g) is not None]
            if not points_:
                continue
            ns, stats = [p[0] for p in points_], [p[1] for p in points_]
            if len(ns) == 1:
                ax.axhline(stats[0][0], color=color, linestyle=":", linewidth=1.2, label=f"{label} (N={ns[0]})")
                continue
            ax.errorbar(ns, [s[0] for s in stats], yerr=[s[1] for s in stats], color=color, marker="o",
                        capsize=3, label=label)
    if points:
        _decorate(axes[1], quality, "workers", None, _num_modes(groups))
    for ax, ylabel in zip(axes, ("generator updates per second", Y_LABELS[quality])):
        ax.set_xscale("log", base=2)
        ax.set_xticks(all_counts, [str(n) for n in all_counts])
        ax.set_xlabel("workers N")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    _legend(fig, axes[-1])
    _save(fig, path)


def projected_plot(groups: list[Group], projections, profiles: list, path: Path, points: bool,
                   floor: float | None) -> None:
    """The headline measure against wall time projected on each profile, a panel per profile; FID on a log axis."""
    styles = _styles(groups)
    measure = "hq_pct" if points else "fid"
    fig, axes = plt.subplots(1, len(profiles), figsize=(4.2 * len(profiles) + 2.4, 3.8), squeeze=False)
    for ax, profile in zip(axes[0], profiles):
        for g in groups:
            runs = g.finished
            steps = set.intersection(*[{e["step"] for e in r.evals if measure in e} for r in runs]) if runs else set()
            xs, ys = [], []
            for step in sorted(steps):
                seconds = [projections.seconds_at(r, profile, int(step)) for r in runs]
                if any(s is None for s in seconds):
                    break
                xs.append(sum(seconds) / len(seconds))
                ys.append(sum(next(e for e in r.evals if e["step"] == step)[measure] for r in runs) / len(runs))
            if xs:
                ax.plot(xs, ys, marker="o", markersize=3, label=g.name, **styles[(g.label, g.workers)])
        ax.set_title(profile.describe(), fontsize=9)
        ax.set_xlabel("projected wall seconds")
        ax.set_ylabel(Y_LABELS[measure])
        ax.grid(True, alpha=0.3, which="both")
        if measure == "fid":
            if floor is not None:
                ax.axhline(floor, color="grey", linestyle="--", linewidth=1, label="real vs real floor")
            ax.set_yscale("log")
        else:
            ax.set_ylim(-2, 102)
    _legend(fig, axes[0][-1])
    _save(fig, path)


def decision_map(groups: list[Group], projections, profile, target, points: bool, requirements: list[str],
                 path: Path, margin: float, quality_margin: float, errors: dict[str, float], alpha: float) -> None:
    """The picked method by bandwidth (x) and workers N (y); grey: undecided."""
    from distgan.report.network import GRID, scaled
    from distgan.report.recommend import decide

    counts = sorted({g.workers for g in groups if g.method != "standalone" and g.finished})
    labels = list(dict.fromkeys(g.label for g in groups))
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(9.0, 1.0 + 0.5 * len(counts)))
    seen = {}
    for y, n in enumerate(counts):
        for bps in GRID:
            d = decide(groups, scaled(profile, bps), target, points, requirements, projections, n, margin,
                       quality_margin, errors, alpha)
            label = next((g.label for g in groups if g.name == d.pick), None) if d.decided else None
            color = cmap(labels.index(label) % cmap.N) if label else (0.85, 0.85, 0.85)
            ax.scatter([bps], [y], s=220, marker="s", color=color)
            seen.setdefault(label or "undecided", color)
    ax.set_xscale("log")
    ax.set_yticks(range(len(counts)), [str(n) for n in counts])
    ax.set_xlabel(f"bandwidth, bits/s (latency of {profile.name} kept)")
    ax.set_ylabel("workers N")
    for name, color in seen.items():
        ax.scatter([], [], s=80, marker="s", color=color, label=name)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    _save(fig, path)
