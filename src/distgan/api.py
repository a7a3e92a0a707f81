"""The Python API: `train(config)`, `compare(study)` and `report(dir)`; the CLI is a shell over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distgan.study import Study
from distgan.training import train

__all__ = ["train", "compare", "plan", "report", "project"]


def compare(study: Study) -> Path:
    """Run every cell of a study that has not finished, then build its report; return report.html's path."""
    if study.until_decided:  # seeds added only where the pick is undecided (distgan/sequential.py)
        from distgan.sequential import until_decided

        return until_decided(study)
    from distgan.compare import compare as run_study

    return run_study(study)


def plan(study: Study) -> dict[str, Any]:
    """What `compare(study)` would run and cost, without running it: the cells, and the estimate from a pilot of
    each method (distgan/estimate.py), sized to `study.time_budget` where one is given. Nothing is written to
    `study.out`."""
    from distgan.compare import plan_cost, select
    from distgan.study import plan as plan_cells

    sized, cost = plan_cost(study)
    cells = select(plan_cells(sized), sized.cells)
    return {"study": sized, "cells": [c.name for c in cells], "cost": cost}


def report(directory: str | Path, reference: str | None = None, target: float | None = None,
           network: str | None = None, equivalence_margin: float | str | None = None, require: str | None = None,
           margin: float | str | None = None, quality_margin: float | str | None = None) -> Path:
    """(Re)build report.html, report.md and the plots from the run folders at or under `directory`; with
    `network`, also FID against wall time projected on that network and the crossover bandwidths;
    `equivalence_margin` is that of the quality verdicts ("5", or "10%" of the reference's mean); `require` what a
    recommended method must offer ("data-stays-local,no-restart"); `margin` and `quality_margin` the pick's
    ("20%" or 0.2; docs/compare.md)."""
    from distgan.report import build_report

    return build_report(directory, reference, target, network, equivalence_margin, require, margin, quality_margin)


def project(path: str | Path, network: str, compute: str = "auto") -> dict[str, Any]:
    """Projected wall time of a run (or of every run of a study) on `network` (a profile name or BW,LATENCY)."""
    from distgan.network.project import project as project_runs

    return project_runs(path, network, compute)


