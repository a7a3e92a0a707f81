"""`distgan compare --until-decided`: spend seeds only where the pick is still undecided.

Look 1 runs every cell on the study's seeds. After each look the report decides every profile; for each one
still undecided, the methods of its open contrasts (the leader, the candidates that keep the leader's regret
bound over the margin, and those whose quality is unresolved) get SEEDS_PER_LOOK more seeds, and only they.
The study stops when every profile is decided, when the next look would not fit in --time-budget (at the
seconds per cell measured so far), or after MAX_LOOKS looks.

Validity: every look's decision is made at alpha / MAX_LOOKS (Bonferroni over a fixed number of looks, each
then split by MCB over the candidates), so the chance of any false pick over all the looks is at most alpha,
whichever look stops the study. A profile decided at a look keeps that pick (study.json's `decided_at`): the
seeds added after it serve the profiles still open, and re-deciding it on them would be a fourth look the level
does not pay for. The report states the looks, the level, each stage's seeds and the look that decided each
profile.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from distgan.errors import DistganError
from distgan.safe_read import UnreadableFile, read_object
from distgan.study import Cell, Study, plan

log = logging.getLogger(__name__)
MAX_LOOKS = 3
SEEDS_PER_LOOK = 2


def until_decided(study: Study) -> Path:
    from distgan.compare import finish, plan_cost, run_cells, select

    study, cost = plan_cost(study)  # logs what look 1 will cost
    started = time.monotonic()
    seeds = list(range(study.first_seed, study.first_seed + study.seeds))
    wanted: dict[tuple[str, int], list[int]] = {}  # (label, workers) -> its seeds
    every = plan(study)
    for cell in every:
        wanted.setdefault((cell.label, cell.workers), []).append(cell.seed)
    chosen = select(every, study.cells)
    stages: list[dict[str, Any]] = []
    decided_at: dict[str, dict[str, Any]] = {}  # profile -> its decision at the look that made it
    report = None
    for look in range(1, MAX_LOOKS + 1):
        stage_start = time.monotonic()
        record = {"looks": MAX_LOOKS, "stages": stages + [_stage(look, chosen, "running")], "decided_at": decided_at,
                  **({"cost": cost} if look == 1 and cost else {})}
        failures = run_cells(study, chosen, every, record)
        stages.append({**_stage(look, chosen, "done"), "seconds": round(time.monotonic() - stage_start, 1)})
        _write_stages(study, every, stages, decided_at)
        report = finish(study, failures)
        newly = _freeze(Path(study.out), look, decided_at)
        stages[-1]["decided"] = sorted(newly)
        _write_stages(study, every, stages, decided_at)
        open_cells = _open(Path(study.out), set(decided_at))
        if not open_cells:
            stages[-1]["outcome"] = "every profile decided"
            break
        if look == MAX_LOOKS:
            stages[-1]["outcome"] = f"stopped after {MAX_LOOKS} looks, the most the level allows for"
            break
        new = list(range(max(seeds) + 1, max(seeds) + 1 + SEEDS_PER_LOOK))
        extra = [c for c in plan(dataclasses.replace(study, seeds=max(new) + 1 - study.first_seed))
                 if (c.label, c.workers) in open_cells and c.seed in new]
        per_cell = _seconds_per_cell(stages)
        left = study.time_budget - (time.monotonic() - started) if study.time_budget else float("inf")
        estimate = per_cell * len(extra) / max(1, study.jobs or 1)
        if estimate > left:
            stages[-1]["outcome"] = (f"budget spent: the next look ({len(extra)} cells, about {estimate:.0f} s) "
                                     f"would not fit in the {max(0.0, left):.0f} s left")
            break
        stages[-1]["outcome"] = f"undecided: {len(extra)} more cells for {', '.join(sorted({c.label for c in extra}))}"
        seeds += new
        every += extra
        chosen = extra
    _write_stages(study, every, stages, decided_at)
    if report is None:
        raise DistganError("--until-decided ran no look")
    return finish(study, [])


def _stage(look: int, cells: list[Cell], state: str) -> dict[str, Any]:
    return {"look": look, "state": state, "cells": len(cells), "seeds": sorted({c.seed for c in cells}),
            "methods": sorted({c.label for c in cells})}


def _write_stages(study: Study, every: list[Cell], stages: list[dict[str, Any]],
                  decided_at: dict[str, dict[str, Any]]) -> None:
    from distgan.checkpoint import atomic_write_json
    from distgan.compare import _study_record

    atomic_write_json(Path(study.out) / "study.json", {**_study_record(study, every), "looks": MAX_LOOKS,
                                                       "stages": stages, "decided_at": decided_at})


FROZEN_KEYS = ("pick", "workers", "regret_bound", "within_margin", "margin", "quality_margin", "verdict")


def _freeze(out: Path, look: int, decided_at: dict[str, dict[str, Any]]) -> list[str]:
    """Keep the decision of every profile this look decided for the first time; return their names."""
    try:
        profiles = read_object(out / "recommendation.json").get("profiles", {})
    except (OSError, UnreadableFile):
        return []
    newly = [name for name, entry in profiles.items() if entry.get("decided") and name not in decided_at]
    for name in newly:
        decided_at[name] = {"look": look, **{k: profiles[name].get(k) for k in FROZEN_KEYS}}
    return newly


def _seconds_per_cell(stages: list[dict[str, Any]]) -> float:
    cells = sum(s["cells"] for s in stages)
    return sum(s.get("seconds", 0.0) for s in stages) / max(1, cells)


def _open(out: Path, decided: set[str] = frozenset()) -> set[tuple[str, int]]:
    """(label, workers) of every method in the open contrasts of a profile that no look has decided
    (recommendation.json)."""
    try:
        profiles = read_object(out / "recommendation.json").get("profiles", {})
    except (OSError, UnreadableFile):
        return set()
    found = set()
    for name, entry in profiles.items():
        if name in decided:
            continue
        for decision in [entry, *entry.get("by_workers", {}).values()]:
            if not decision.get("decided"):
                found |= {(c["label"], c["workers"]) for c in decision.get("open_contrasts", [])}
    return found
