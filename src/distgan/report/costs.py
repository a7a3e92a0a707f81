"""What one step costs each cell, and quality read off two cells' curves at the same cost.

A step is one generator update, but the methods pay different prices for it: per update, sync-dp, fl-gan
and md-gan use N times the real images of standalone, and md-gan's G sees K b generated samples. So each
verdict names, for both sides, the real images, the generated samples and a worker's compute one update
costs (from metrics.jsonl and trace.jsonl), and the report also compares quality at equal real images seen
and at equal compute: each pair of runs read at the budget of the cheaper one.
"""

from __future__ import annotations

import statistics
from typing import Any, Callable

from distgan import run_folder
from distgan.report import fmt
from distgan.report.aggregate import Group, has_server
from distgan.report.load import Run
from distgan.transport.trace import RECORD_PHASE, compute_seconds, read_trace

_compute_cache: dict[Any, float | None] = {}  # keyed by the trace file's identity: a rewritten trace is read anew


def per_update(run: Run, key: str) -> float | None:
    """Real images (`real_images`) or generated samples (`fake_samples`) per generator update, from the last
    evaluation line that counts them."""
    for record in reversed(run.evals):
        updates = record.get("g_updates") or record.get("step")
        if isinstance(record.get(key), (int, float)) and updates:
            return record[key] / updates
    return None


def worker_compute_s(run: Run) -> float | None:
    """Seconds of compute per generator update on one worker (mean over workers), from the run's trace.

    Workers are ranks 1..N of a server method and every rank otherwise. Logging and evaluation (the `record`
    phase, rank 0's) are not compute of the method. The updates are those the trace covers (rank 0's
    records), not the run's: a run killed and resumed traced only its resumed part."""
    path = run.path / run_folder.TRACE
    try:
        stat = path.stat()
        key: Any = (path, run.method, stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = (path, run.method, None, None)
    if key in _compute_cache:
        return _compute_cache[key]
    value = None
    if path.is_file():
        per_rank: dict[int, float] = {}
        steps = 0
        workers_from = 1 if has_server(run.method) else 0
        for record in read_trace(path):
            if record["rank"] == 0:
                steps += record["updates"] if record["step"] >= 1 else 0
            if record["rank"] >= workers_from:
                per_rank[record["rank"]] = per_rank.get(record["rank"], 0.0) + compute_seconds(record, RECORD_PHASE)
        value = sum(per_rank.values()) / len(per_rank) / steps if per_rank and steps else None
    _compute_cache[key] = value
    return value


def mean_over(group: Group, value: Callable[[Run], float | None]) -> float | None:
    numbers = [v for v in (value(r) for r in group.finished) if v is not None]
    return statistics.fmean(numbers) if numbers else None


def step_cost(group: Group) -> tuple[str, bool]:
    """One cell's cost of one generator update, "80 real, 80 generated, 2.01 ms of a worker's compute", and
    whether its compute was traced."""
    real = mean_over(group, lambda r: per_update(r, "real_images"))
    fake = mean_over(group, lambda r: per_update(r, "fake_samples"))
    compute = mean_over(group, worker_compute_s)
    parts = [f"{fmt.number(real)} real" if real is not None else "real images not recorded",
             f"{fmt.number(fake)} generated" if fake is not None else "generated samples not recorded"]
    if compute is not None:
        parts.append(f"{fmt.number(compute * 1e3)} ms of a worker's compute")
    return ", ".join(parts), compute is not None


def costs_sentence(a: Group, b: Group) -> str:
    """What one generator update costs each side: real images, generated samples and a worker's compute."""
    (mine, traced_a), (theirs, traced_b) = step_cost(a), step_cost(b)
    untraced = [g.name for g, traced in ((a, traced_a), (b, traced_b)) if not traced]
    note = f"; compute not traced for {' and '.join(untraced)}" if untraced else ""
    return f"Per update: {a.name} {mine}; {b.name} {theirs}{note}."


def at_budget(run: Run, key: str, budget: float, cost: Callable[[Run, dict[str, Any]], float | None]) -> Any:
    """`key` at the last evaluation whose cost is at most `budget` (None if none is)."""
    found = None
    for record in run.evals:
        spent = cost(run, record)
        if spent is None or spent > budget * (1 + 1e-9):
            break
        if key in record:
            found = record[key]
    return found


def real_images_spent(run: Run, record: dict[str, Any]) -> float | None:
    value = record.get("real_images")
    return float(value) if isinstance(value, (int, float)) else None


def compute_spent(run: Run, record: dict[str, Any]) -> float | None:
    per = worker_compute_s(run)
    updates = record.get("g_updates") or record.get("step")
    return None if per is None or updates is None else per * updates


def final_spent(run: Run, cost: Callable[[Run, dict[str, Any]], float | None]) -> float | None:
    return cost(run, run.evals[-1]) if run.evals else None


def equal_cost_pair(mine: Run, theirs: Run, key: str,
                    cost: Callable[[Run, dict[str, Any]], float | None]) -> tuple[Any, Any]:
    """Both runs' `key` at the budget of the cheaper of the two (its final cost)."""
    budgets = [final_spent(r, cost) for r in (mine, theirs)]
    if any(b is None for b in budgets):
        return None, None
    budget = min(budgets)
    return at_budget(mine, key, budget, cost), at_budget(theirs, key, budget, cost)
