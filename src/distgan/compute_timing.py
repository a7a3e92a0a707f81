"""Each method's compute per generator update, timed apart from the study's cells: the projection's own error.

A simulated study's projection replays each cell's traced compute. Cells that run side by side share the cores,
so what their traces record is distorted by whatever ran beside them (in one study gossip-gan traced 26.9 ms
and fl-gan 28.7 ms per update: a 6.6% gap that was the machine's, not the methods'). After the cells, each
label of the study trains a short simulated run again here, one at a time and interleaved (repeat r runs every
label, in an order rotated by r), with the threads a cell had. The report then scales each cell's traced
compute to its label's median here, and widens every time bound by its label's spread here (half the range
over the repeats, relative to the median): docs/compare.md, "The projection's own error".
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any, Callable

from distgan.checkpoint import atomic_write_json

log = logging.getLogger(__name__)
FILE = "compute_timing.json"
REPEATS = 3
STEPS = 100  # at most; fewer where updates are slow (steps_for), but never fewer than MIN_STEPS
MIN_STEPS = 30
SECONDS_PER_RUN = 12.0  # what one timing run's updates should take: 100 of digits' 60-120 ms, 30 of mnist5k's 1 s
WARMUP = 10  # updates left out of each timing: the first steps pay for allocation and caches
TRIM = 0.1  # the share of the fastest and of the slowest records left out of a rate


def needed(study: Any) -> bool:
    """Simulated studies only: a process run's projection is calibrated role by role already."""
    return study.backend == "sim" and not (Path(study.out) / FILE).is_file()


def steps_for(seconds_per_update: float | None) -> int:
    """Updates in one timing run: STEPS, or as many as take SECONDS_PER_RUN at the pilot's rate (estimate.py), never
    fewer than MIN_STEPS (after the WARMUP, enough per-record rates to trim)."""
    if not seconds_per_update or seconds_per_update <= 0:
        return STEPS
    return max(min(STEPS, MIN_STEPS), min(STEPS, int(SECONDS_PER_RUN / seconds_per_update)))


def time_compute(study: Any, cells: list[Any], threads: int, run_cell: Callable[[Any], str | None],
                 seconds_per_update: dict[str, float] | None = None) -> dict[str, Any]:
    """Time every label's compute per update (REPEATS short runs each, interleaved, each trained by `run_cell`,
    compare.run_cell; of steps_for its pilot's rate, where `seconds_per_update` has one); write compute_timing.json
    into the study folder and return what it holds."""
    examples = {}
    for cell in cells:  # one cell per label, at its largest N: that is the one the pick compares
        if cell.label not in examples or cell.workers > examples[cell.label].workers:
            examples[cell.label] = cell
    labels = list(examples)
    seconds: dict[str, list[float]] = {label: [] for label in labels}
    scratch = Path(tempfile.mkdtemp(prefix="distgan-timing-"))
    try:
        for repeat in range(REPEATS):
            for label in labels[repeat % len(labels):] + labels[:repeat % len(labels)]:
                cell = examples[label]
                out = scratch / f"{cell.name}_r{repeat}"
                steps = steps_for((seconds_per_update or {}).get(label))
                config = dataclasses.replace(cell.config, steps=steps, eval_every=0, sample_every=10 * steps,
                                             checkpoint_every=10 * steps, tensorboard=False, progress=False,
                                             threads=threads, seed=cell.config.seed + 1000 * (repeat + 1),
                                             out=str(out), resume=False)
                error = run_cell(dataclasses.replace(cell, config=config))
                if error:
                    log.warning("compute timing of %s failed: %s", label, error)
                    continue
                per_update = traced_seconds_per_update(out)
                if per_update:
                    seconds[label].append(per_update)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    import torch

    from distgan.runner import machine

    result = {"repeats": REPEATS, "steps": {label: steps_for((seconds_per_update or {}).get(label))
                                            for label in labels}, "warmup": WARMUP, "trim": TRIM, "threads": threads,
              "machine": machine(torch.device("cpu")), "labels": {
        label: summary(values) for label, values in seconds.items() if values}}
    atomic_write_json(Path(study.out) / FILE, result)
    return result


def summary(values: list[float]) -> dict[str, Any]:
    median = statistics.median(values)
    return {"seconds_per_update": values, "median": median,
            "error": (max(values) - min(values)) / 2 / median if median > 0 else 0.0}


def traced_seconds_per_update(run: str | Path, skip: int | None = None) -> float | None:
    """Compute seconds per generator update in a finished run's trace (its replay on an ideal network), from
    update `skip` to the last."""
    from distgan.errors import DistganError
    from distgan.network.profiles import IDEAL
    from distgan.network.project import projector

    try:
        ends = projector(run)[0](IDEAL).step_end_s
    except DistganError:
        return None
    return _per_update(ends, WARMUP if skip is None else skip)


def _per_update(ends: dict[int, float], skip: int) -> float | None:
    """Seconds per update from each record's end time, after update `skip`: the mean of the per-record rates with
    the fastest and slowest TRIM of them left out (a 2-core VM stalls now and then; a stall is not the method's)."""
    steps = sorted(s for s in ends if s > skip)
    start = max((s for s in ends if s <= skip), default=0)
    points = [(start, ends[start] if start else 0.0)] + [(s, ends[s]) for s in steps]
    rates = sorted((t1 - t0) / (s1 - s0) for (s0, t0), (s1, t1) in zip(points, points[1:]) if s1 > s0)
    if not rates:
        return None
    cut = int(len(rates) * TRIM)
    kept = rates[cut:len(rates) - cut] or rates
    return sum(kept) / len(kept)


def load(root: str | Path, cpus: set[str] | None = None) -> dict[str, Any]:
    """compute_timing.json of a study folder's labels, or {} when it has none, or when it was timed on another CPU
    than `cpus`, the ones the runs name (a timing scales only the compute of its own kind of machine)."""
    from distgan.safe_read import UnreadableFile, read_object

    path = Path(root) / FILE
    data = read_object(path, missing={})
    labels, machine = data.get("labels", {}), data.get("machine") or {}
    if not isinstance(labels, dict) or not isinstance(machine, dict) or not all(
            isinstance(e, dict) and all(isinstance(e.get(k), (int, float)) and not isinstance(e.get(k), bool)
                                        for k in ("median", "error")) for e in labels.values()):
        raise UnreadableFile(f"{path}: not a compute timing ({{labels: {{label: {{median, error}}}}}}); delete it "
                             "(the report then uses each cell's traced compute as it is)")
    timed_on = machine.get("cpu")
    if cpus is not None and (timed_on is None or cpus != {timed_on}):
        log.warning("%s was timed on %s, the runs on %s: not used", path, timed_on, ", ".join(sorted(cpus)) or "?")
        return {}
    return labels


def errors(root: str | Path) -> dict[str, float]:
    return {label: entry["error"] for label, entry in load(root).items()}


def describe(root: str | Path, errors_by_label: dict[str, float]) -> str:
    if not errors_by_label:
        return ("Projected times use each cell's traced compute as it is, so no timing error widens the bounds: "
                "there is no compute_timing.json timed on the runs' kind of CPU (a process-backend study is "
                "calibrated role by role instead; a study that predates the timing, or ran on another machine, "
                "is not).")
    worst = max(errors_by_label, key=errors_by_label.get)
    return (f"Each cell's traced compute is scaled to its method's compute per update timed apart from the cells "
            f"({FILE}: {REPEATS} interleaved runs each, one at a time), and each bound is widened by that timing's "
            f"spread (largest: {worst}, ±{errors_by_label[worst]:.1%}).")


def default_threads(jobs: int, threads: int) -> int:
    """The torch threads a cell had (compare._run_cells): --threads, else its share of the cores."""
    return threads or max(1, (os.cpu_count() or 1) // max(1, jobs))
