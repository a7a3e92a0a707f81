"""Compute times that do not depend on this machine's contention: each role's phases timed one rank at a time.

A process run's trace times compute while its N+1 processes fight for the cores (and the other jobs on a
shared machine), so those seconds say more about the machine than about the method. The calibration reruns
the run's own config (model, batch, method settings, torch threads per process) for a few steps on the
simulated transport, whose ranks compute strictly in turns: each phase is then timed with one rank computing,
as it would on its own node. No evaluation runs, and nothing of the run folder changes but calibration.json.

A simulated run needs none of this: its trace was taken in turns already.

Computing alone is never slower than sharing the cores with the run's other ranks, so a phase the calibration
timed slower than the run traced it measured the machine's drift between the two (on this shared 2-core VM one
role's step moves by 10% within seconds), not the method: each phase is capped at the run's own traced median.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from distgan import run_folder
from distgan.checkpoint import atomic_write_json
from distgan.config import load_config_json
from distgan.errors import DistganError
from distgan.safe_read import UnreadableFile, read_object
from distgan.transport.trace import RECORD_PHASE, read_trace

log = logging.getLogger(__name__)
STEPS = 12  # generator updates the calibration runs (two rounds at least for federated methods)
SKIPPED = (RECORD_PHASE,)  # rank 0's evaluations, samples and logs: distgan's bookkeeping, not the method's


def role(rank: int, has_server: bool) -> str:
    return "server" if has_server and rank == 0 else "worker"


def phase_seconds(records: list[dict[str, Any]], has_server: bool, warmup: int = 1) -> dict[str, dict[str, float]]:
    """Median seconds per generator update of each (role, phase), over each rank's records after `warmup`."""
    per: dict[tuple[str, str], list[float]] = defaultdict(list)
    seen: dict[int, int] = defaultdict(int)
    for record in records:
        rank = int(record["rank"])
        seen[rank] += 1
        updates = int(record.get("updates", 1))
        if seen[rank] <= warmup or updates < 1:
            continue
        totals: dict[str, float] = defaultdict(float)
        for item in record["ops"]:
            if item[0] == "c":
                totals[item[1]] += item[2]
        who = role(rank, has_server)
        for label, seconds in totals.items():
            per[who, label].append(seconds / updates)
        per[who, "*"].append(sum(s for k, s in totals.items() if k not in SKIPPED) / updates)
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (who, label), values in per.items():
        out[who][label] = statistics.median(values)
    return dict(out)


def calibrate(run: Path, refresh: bool = False) -> dict[str, Any]:
    """Each role's compute per generator update and phase, timed alone; cached in the run's calibration.json."""
    cache = run / run_folder.CALIBRATION
    cached = None if refresh else read_object(cache, missing=None)
    if cached is not None:
        return capped(run, _checked_calibration(cache, cached))
    from distgan.data.registry import load_dataset
    from distgan.launch import run_simulated

    config = load_config_json(run / run_folder.CONFIG)
    summary = _summary(run)
    threads = summary.get("threads") or config.threads or max(1, (os.cpu_count() or 1) // config.world_size)
    steps = min(config.steps, max(STEPS, 2 * int(config.options.get("local_steps", 0))))
    dataset = load_dataset(config.dataset)
    with tempfile.TemporaryDirectory(prefix="distgan-calibrate-") as tmp:
        alone = dataclasses.replace(config, backend="sim", steps=steps, out=tmp, eval_every=0, sample_every=steps,
                                    checkpoint_every=steps, log_every=max(1, steps), progress=False, tensorboard=False,
                                    trace=True, threads=threads, fail=[], resume=False)
        log.info("calibrating %s: %d steps of %s x%d in turns, %d torch threads", run, steps, config.method,
                 config.workers, threads)
        run_simulated(alone, dataset, None)
        records = read_trace(Path(tmp) / run_folder.TRACE)
    result = capped(run, {"steps": steps, "threads": threads, "cpus": os.cpu_count(),
                          "timed_seconds_per_update": phase_seconds(records, config.has_server)})
    atomic_write_json(cache, result)
    return result


def capped(run: Path, result: dict[str, Any]) -> dict[str, Any]:
    """`result` with seconds_per_update: each (role, phase) timed alone, or the run's own traced median where that
    is less (timed_seconds_per_update keeps what the calibration timed; a cache from before the cap has only
    seconds_per_update, which is what it timed)."""
    timed = result.get("timed_seconds_per_update", result.get("seconds_per_update", {}))
    try:
        traced = phase_seconds(read_trace(run / run_folder.TRACE), load_config_json(run / run_folder.CONFIG).has_server)
    except UnreadableFile:
        raise
    except (OSError, DistganError):  # no trace or config to cap with: what was timed
        traced = {}
    seconds = {who: {label: min(s, traced.get(who, {}).get(label, s)) for label, s in phases.items()}
               for who, phases in timed.items()}
    return {**result, "timed_seconds_per_update": timed, "seconds_per_update": seconds}


def _summary(run: Path) -> dict[str, Any]:
    return read_object(run / run_folder.SUMMARY, missing={})


def _checked_calibration(path: Path, cached: dict[str, Any]) -> dict[str, Any]:
    """calibration.json as `capped` reads it: {role: {phase: seconds}} under its seconds key."""
    timed = cached.get("timed_seconds_per_update", cached.get("seconds_per_update"))
    if not isinstance(timed, dict) or not all(
            isinstance(phases, dict) and all(isinstance(s, (int, float)) and not isinstance(s, bool) and s >= 0
                                             for s in phases.values()) for phases in timed.values()):
        raise UnreadableFile(f"{path}: not a calibration ({{role: {{phase: seconds}}}}); delete it and "
                             "`distgan project` times the run again")
    return cached
