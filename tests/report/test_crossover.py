"""The crossover line: where one cell's projected time to target crosses another's (pure Python)."""

from __future__ import annotations

import pytest

from distgan.network.replay import Replay
from distgan.report.network import GRID, _crossing, at_step
from distgan.report.verdicts import Target


def test_crossover_is_where_the_faster_cell_changes():
    # a: compute-heavy, flat; b: communication-heavy, 1e9 / bandwidth seconds: equal at 100 Mbit/s
    a = [10.0 for _ in GRID]
    b = [1e9 / bps for bps in GRID]
    line = _crossing("a", "b", a, b, Target(False, 50.0), "span")
    assert line.startswith("Crossover at about 100 Mbit/s: below it b reaches FID <= 50 later than a")


def test_no_crossover_names_the_cell_that_is_always_first():
    line = _crossing("a", "b", [2.0] * len(GRID), [1.0] * len(GRID), Target(False, 50.0), "span")
    assert line.startswith("No crossover between a and b: b reaches")


def test_a_step_inside_a_round_takes_the_round_end():
    replayed = Replay(3.0, {20: 1.0, 40: 2.0, 60: 3.0}, {}, {})
    assert [at_step(replayed, s) for s in (1, 20, 21, 60, 61)] == [1.0, 1.0, 2.0, 3.0, None]
    assert pytest.approx(at_step(replayed, 40)) == 2.0
