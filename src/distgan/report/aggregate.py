"""Group runs into cells of (label, workers) and reduce their seeds to mean and standard deviation."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from distgan.methods import REGISTRY
from distgan.report.load import Run

Stat = tuple[float, float, int]  # mean, sample standard deviation (0 for one seed), number of seeds


@dataclass
class Group:
    """The seeds of one (label, workers) cell."""

    label: str
    method: str
    workers: int
    runs: list[Run] = field(default_factory=list)

    @property
    def finished(self) -> list[Run]:
        return [r for r in self.runs if r.summary is not None]

    @property
    def name(self) -> str:
        return self.label if self.method == "standalone" else f"{self.label} N={self.workers}"


def group_runs(runs: list[Run]) -> list[Group]:
    """Runs grouped by (label, workers), in the order they first appear."""
    groups: dict[tuple[str, int], Group] = {}
    for run in runs:
        key = (run.label, run.workers)
        groups.setdefault(key, Group(run.label, run.method, run.workers)).runs.append(run)
    return list(groups.values())


def stat(values: list[Any]) -> Stat | None:
    """Mean and standard deviation over the seeds that have a number; None if none has."""
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        return None
    if any(math.isnan(v) for v in numbers):
        return (math.nan, math.nan, len(numbers))
    spread = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
    return (statistics.fmean(numbers), spread, len(numbers))


def final(group: Group, key: str) -> Stat | None:
    """A final evaluation measure (`fid`, `modes_captured`, ...) over the finished seeds."""
    return stat([(r.summary or {}).get("final_eval", {}).get(key) for r in group.finished])


def summary_stat(group: Group, key: str) -> Stat | None:
    return stat([(r.summary or {}).get(key) for r in group.finished])


def has_server(method: str) -> bool:
    return method in REGISTRY and REGISTRY[method].has_server


def worker_ranks(run: Run) -> list[str]:
    """Ranks that are workers and reported back: 1..N with a server, else 0..N-1."""
    per_rank = (run.summary or {}).get("bytes", {}).get("per_rank", {})
    return [r for r in per_rank if not (has_server(run.method) and r == "0")]


def rank_bytes(run: Run, rank: str, direction: str) -> int | None:
    kinds = (run.summary or {}).get("bytes", {}).get("per_rank", {}).get(rank, {}).get(direction)
    return None if kinds is None else sum(kinds.values())


def server_bytes(group: Group, direction: str) -> Stat | None:
    """Bytes sent or received by the server (rank 0); None for methods without a server."""
    if not has_server(group.method):
        return None
    return stat([rank_bytes(r, "0", direction) for r in group.finished])


def worker_bytes(group: Group, direction: str) -> Stat | None:
    """Bytes sent or received by one worker, averaged over the workers of each run."""
    per_run = []
    for run in group.finished:
        values = [rank_bytes(run, rank, direction) for rank in worker_ranks(run)]
        values = [v for v in values if v is not None]
        per_run.append(statistics.fmean(values) if values else None)
    return stat(per_run)


def peak_mb(group: Group, role: str) -> Stat | None:
    """Peak resident memory of the server (rank 0 of a server method) or of a worker (mean over workers)."""
    per_run = []
    for run in group.finished:
        peaks = (run.summary or {}).get("peak_rss_mb", {})
        if role == "server":
            per_run.append(peaks.get("0") if has_server(run.method) else None)
        else:
            values = [peaks[r] for r in peaks if not (has_server(run.method) and r == "0")]
            per_run.append(statistics.fmean(values) if values else None)
    return stat(per_run)


def total_bytes(run: Run) -> int:
    """Bytes that crossed the network in a run: everything sent by every rank."""
    return int((run.summary or {}).get("bytes", {}).get("total_sent", 0))


def eval_x(run: Run, record: dict[str, Any], x: str) -> float | None:
    """The x value of one evaluation line: generator updates, wall seconds or bytes moved by all ranks.

    Evaluation lines carry rank 0's running byte count; it is scaled to the run's final total over all ranks,
    so the last point is exact and earlier ones assume rank 0 carried a steady share of the traffic.
    """
    if x != "bytes":
        value = record.get(x)
        return float(value) if isinstance(value, (int, float)) else None
    total = total_bytes(run)
    rank0_final = (rank_bytes(run, "0", "sent") or 0) + (rank_bytes(run, "0", "recv") or 0)
    rank0_now = record.get("bytes_sent", 0) + record.get("bytes_recv", 0)
    if not total:
        return None
    if rank0_final:
        return total * rank0_now / rank0_final
    return total * record.get("step", 0) / max(1, (run.summary or {}).get("steps", 1))


def curve(group: Group, measure: str, x: str) -> tuple[list[float], list[float], list[float]]:
    """Mean x, mean and std of `measure` at each evaluated step shared by all finished seeds."""
    runs = group.finished
    steps = set.intersection(*[{e["step"] for e in r.evals if measure in e} for r in runs]) if runs else set()
    xs, means, stds = [], [], []
    for step in sorted(steps):
        records = [next(e for e in r.evals if e["step"] == step) for r in runs]
        x_stat = stat([eval_x(r, rec, x) for r, rec in zip(runs, records)])
        y_stat = stat([rec.get(measure) for rec in records])
        if x_stat is None or y_stat is None:
            continue
        xs.append(x_stat[0])
        means.append(y_stat[0])
        stds.append(y_stat[1])
    return xs, means, stds
