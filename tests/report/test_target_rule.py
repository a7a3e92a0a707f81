"""The default target where the data has none measured (issue 45, item 1): report/target_rule.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from distgan.report.aggregate import Group
from distgan.report.load import Run
from distgan.report.target_rule import smoothed_fid_at, study_target


def _run(label: str, seed: int, fids: list[float], every: int = 10) -> Run:
    evals = [{"type": "eval", "step": every * (i + 1), "g_updates": every * (i + 1), "fid": f}
             for i, f in enumerate(fids)]
    return Run(Path(f"{label}_s{seed}"), label, {"steps": every * len(fids), "seed": seed}, {"final": {}}, evals)


def _groups(curves: dict[str, list[list[float]]]) -> list[Group]:
    return [Group(label, label, 1, [_run(label, s, c) for s, c in enumerate(seeds)]) for label, seeds in curves.items()]


def test_the_smoothed_fid_is_the_running_median_at_the_last_evaluation_within_the_update():
    evals = _run("a", 0, [100, 50, 90, 40, 30, 20]).evals  # updates 10..60
    assert smoothed_fid_at(evals, 35) == pytest.approx(50)  # at update 30: the median of 50, 90 and 40
    assert smoothed_fid_at(evals, 60) == pytest.approx(math.exp((math.log(30) + math.log(20)) / 2))  # the end's 2
    assert smoothed_fid_at(evals, 5) is None and smoothed_fid_at([], 30) is None


def test_the_target_is_the_references_worst_seed_at_half_its_budget_rounded_up():
    curves = {"standalone": [[200, 120, 80, 60, 50, 45], [220, 130, 91.23, 70, 55, 48]],
              "fl-gan": [[300, 250, 200, 150, 120, 100]]}  # the other methods play no part
    value, how = study_target(_groups(curves), "standalone", floor=4.0)
    # half of 60 updates is 30: medians there are 80 (seed 0) and 91.23 (seed 1); the worse, up to 3 figures
    assert value == pytest.approx(91.3) and "worst smoothed FID of standalone's 2 seeds at half its budget" in how
    assert "2x the floor, 8," in how


def test_twice_the_floor_stands_where_the_reference_is_there_by_half_its_budget():
    curves = {"standalone": [[30, 9, 7, 6, 5, 5]]}
    value, how = study_target(_groups(curves), "standalone", floor=4.0)
    assert value == 8.0 and how.startswith("2x the real-vs-real FID floor")


def test_no_reference_evaluation_by_half_the_budget_gives_no_target():
    late = {"standalone": [[]]}
    assert study_target(_groups(late), "standalone", floor=4.0) is None
    assert study_target(_groups({"fl-gan": [[50, 40]]}), "standalone", floor=4.0) is None
