"""The comparison table: one row per (label, workers) cell, as strings ready for HTML or Markdown."""

from __future__ import annotations

from distgan.report import fmt
from distgan.report.aggregate import Group, final, peak_mb, server_bytes, summary_stat, worker_bytes

CI = " (± 95% CI)"
IMAGE_HEADER = [f"FID ↓{CI}", f"KID ↓{CI}", f"score ↑{CI}", "classes covered"]
POINTS_HEADER = [f"modes captured{CI}", f"high-quality share{CI}"]
COMMON_HEADER = [f"wall s{CI}", "G updates/s", "server sent / recv", "worker sent / recv", "peak MB server / worker"]


def is_points(groups: list[Group]) -> bool:
    """Whether the runs scored 2-D mixtures (modes) rather than images (FID)."""
    return any("modes_captured" in (r.summary or {}).get("final_eval", {}) for g in groups for r in g.finished) or \
        any("modes_captured" in e for g in groups for r in g.runs for e in r.evals)


def header(points: bool) -> list[str]:
    return ["method", "N", "seeds done", *(POINTS_HEADER if points else IMAGE_HEADER), *COMMON_HEADER]


def row(group: Group, points: bool) -> list[str]:
    done = f"{len(group.finished)}/{len(group.runs)}"
    if points:
        measures = [_out_of(group, "modes_captured", "num_modes"), fmt.stat(final(group, "hq_pct"))]
    else:
        measures = [fmt.stat(final(group, "fid")), fmt.stat(final(group, "kid")), fmt.stat(final(group, "score")),
                    _out_of(group, "classes_covered", "num_classes")]
    return [
        group.label, str(group.workers), done, *measures,
        fmt.stat(summary_stat(group, "wall_s")), fmt.stat(summary_stat(group, "g_updates_per_s")),
        fmt.pair(fmt.size_stat(server_bytes(group, "sent")), fmt.size_stat(server_bytes(group, "recv"))),
        fmt.pair(fmt.size_stat(worker_bytes(group, "sent")), fmt.size_stat(worker_bytes(group, "recv"))),
        fmt.pair(fmt.stat(peak_mb(group, "server"), 4), fmt.stat(peak_mb(group, "worker"), 4)),
    ]


def _out_of(group: Group, key: str, total_key: str) -> str:
    """"7 / 10" style: a count and how many there are."""
    value, total = final(group, key), final(group, total_key)
    if value is None:
        return fmt.NA
    return fmt.stat(value) if total is None else f"{fmt.stat(value)} / {fmt.number(total[0])}"


def table(groups: list[Group]) -> tuple[list[str], list[list[str]]]:
    points = is_points(groups)
    return header(points), [row(g, points) for g in groups]
