"""What a study will cost, said before its first cell: a few timed updates per method on the study's own data.

Each label of the study trains a pilot of PILOT_STEPS generator updates (its cell at the largest N, on the study's
backend, with the torch threads a cell gets), one label at a time, in a scratch folder. From the pilot's own
metrics.jsonl come
- seconds per update: the slope of `wall_s` over the log lines after PILOT_WARMUP updates;
- seconds per evaluation: the jump in `wall_s` between the last train line and the evaluation at the same update;
- a fixed cost: the pilot's whole wall time less the two above (start-up, checkpoints, the summary).
A cell then costs fixed + steps x per update + evaluations x per evaluation; the study's cells share the cores
`jobs` at a time (never less than its longest cell); a simulated study adds the compute timing that follows its
cells (compute_timing.py). The report shows this estimate beside the time the study took.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from distgan import compute_timing
from distgan.errors import DistganError

log = logging.getLogger(__name__)
PILOT_STEPS = 20
PILOT_WARMUP = 5  # updates left out of the slope: the first steps pay for allocation and caches
PILOT_LOG_EVERY = 5
MIN_SEEDS = 3  # the fewest paired seeds that give an interval: --time-budget never sizes a study below it


@dataclass(frozen=True)
class Pilot:
    """One label's measured costs, in seconds."""

    per_update: float
    per_eval: float
    fixed: float

    def cell(self, steps: int, eval_every: int) -> float:
        return self.fixed + steps * self.per_update + evaluations(steps, eval_every) * self.per_eval


def evaluations(steps: int, eval_every: int) -> int:
    """How many evaluations a run of `steps` makes: one every `eval_every` updates, and one at the end."""
    if not eval_every:
        return 1
    return steps // eval_every + (1 if steps % eval_every else 0)


def pilots(cells: list[Any], threads: int, run_cell: Callable[[Any], str | None]) -> dict[str, Pilot]:
    """Train a pilot of each label (its cell with the most workers) and measure it. A label whose pilot fails is
    left out of the estimate, with a warning: its cells run all the same, and the study records why they fail."""
    examples: dict[str, Any] = {}
    for cell in cells:
        if cell.label not in examples or cell.workers > examples[cell.label].workers:
            examples[cell.label] = cell
    scratch = Path(tempfile.mkdtemp(prefix="distgan-pilot-"))
    measured = {}
    try:
        for label, cell in examples.items():
            out = scratch / cell.name
            config = dataclasses.replace(cell.config, steps=PILOT_STEPS, eval_every=0, log_every=PILOT_LOG_EVERY,
                                         sample_every=10 * PILOT_STEPS, checkpoint_every=10 * PILOT_STEPS,
                                         tensorboard=False, progress=False, threads=threads, out=str(out),
                                         resume=False)
            started = time.perf_counter()
            error = run_cell(dataclasses.replace(cell, config=config))
            wall = time.perf_counter() - started
            if error:
                log.warning("the pilot of %s failed (%s): its cells are left out of the estimate", label, error)
                continue
            measured[label] = measure(out / "metrics.jsonl", wall)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return measured


def measure(metrics: Path, wall: float) -> Pilot:
    """A pilot's costs from its metrics.jsonl and its whole wall time."""
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    train = sorted((r["step"], r["wall_s"]) for r in records if r.get("type") == "train")
    evals = [r for r in records if r.get("type") == "eval"]
    after = [(s, w) for s, w in train if s >= PILOT_WARMUP]
    (s0, w0), (s1, w1) = after[0], after[-1]
    per_update = (w1 - w0) / (s1 - s0) if s1 > s0 else w1 / max(1, s1)
    last_train = dict(train).get(evals[-1]["step"], w1) if evals else w1
    per_eval = max(0.0, evals[-1]["wall_s"] - last_train) if evals else 0.0
    fixed = max(0.0, wall - train[-1][0] * per_update - per_eval)
    return Pilot(per_update, per_eval, fixed)


def study_seconds(cells: list[Any], measured: dict[str, Pilot], jobs: int, timed_apart: bool) -> dict[str, Any]:
    """The estimate of running `cells` `jobs` at a time, with the compute timing after them when `timed_apart`."""
    per_cell = [measured[c.label].cell(c.config.steps, c.config.eval_every) for c in cells if c.label in measured]
    cells_s = max(sum(per_cell) / max(1, jobs), max(per_cell, default=0.0))
    timing_s = 0.0
    if timed_apart:
        timing_s = compute_timing.REPEATS * sum(p.fixed + compute_timing.steps_for(p.per_update) * p.per_update
                                                + p.per_eval
                                                for p in measured.values())
    return {"cells": len(cells), "jobs": jobs, "unmeasured": sorted({c.label for c in cells} - set(measured)),
            "cells_s": round(cells_s, 1), "timing_s": round(timing_s, 1),
            "total_s": round(cells_s + timing_s, 1),
            "per_label": {label: dataclasses.asdict(p) for label, p in measured.items()}}


def fit(study: Any, plan: Callable[[Any], list[Any]], seconds: Callable[[Any], float], budget: float
        ) -> tuple[Any, str]:
    """The study, with its seeds and then its budget of updates cut until `seconds(study)` fits `budget`; and what
    was chosen, in words. Seeds go first, down to MIN_SEEDS; then the updates, in whole evaluation intervals."""
    if seconds(study) <= budget:
        return study, f"the study fits --time-budget as it is ({_minutes(seconds(study))} of {_minutes(budget)})"
    chosen = study
    for seeds in range(study.seeds - 1, MIN_SEEDS - 1, -1):
        chosen = dataclasses.replace(study, seeds=seeds)
        if seconds(chosen) <= budget:
            return chosen, (f"--time-budget {_minutes(budget)}: {seeds} seeds instead of {study.seeds}, "
                            f"{chosen.steps} updates (about {_minutes(seconds(chosen))})")
    chosen = dataclasses.replace(study, seeds=min(study.seeds, MIN_SEEDS))
    every = plan(chosen)[0].config.eval_every
    steps = chosen.steps
    while steps - every >= 2 * every and seconds(dataclasses.replace(chosen, steps=steps)) > budget:
        steps -= every
    fitted = dataclasses.replace(chosen, steps=steps, eval_every=every)
    if seconds(fitted) > budget:
        raise DistganError(f"--time-budget {_minutes(budget)} is too short: even {fitted.seeds} seeds of {steps} "
                           f"updates take about {_minutes(seconds(fitted))} here; give a longer budget, fewer "
                           "--methods or more --jobs")
    return fitted, (f"--time-budget {_minutes(budget)}: {fitted.seeds} seeds instead of {study.seeds}, {steps} "
                    f"updates instead of {study.steps} (about {_minutes(seconds(fitted))}; fewer updates may leave "
                    "the target unreached)")


def describe(estimate: dict[str, Any]) -> str:
    text = (f"estimated wall time: {_minutes(estimate['total_s'])} on this machine ({estimate['cells']} cells, "
            f"{estimate['jobs']} side by side: {_minutes(estimate['cells_s'])}")
    if estimate.get("timing_s"):
        text += f"; then each method's compute timed apart: {_minutes(estimate['timing_s'])}"
    if estimate.get("unmeasured"):
        text += f"; not counted, since their pilot failed: {', '.join(estimate['unmeasured'])}"
    return text + "; from a pilot of each method, so cells side by side may run slower)"


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{math.ceil(seconds)} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
