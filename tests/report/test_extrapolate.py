"""A censored study names the budget that would decide (issue 45, item 3): report/extrapolate.py."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from distgan.report.extrapolate import budget_text, seed_updates


def _evals(fid, steps=range(100, 1001, 100)):
    return [{"type": "eval", "g_updates": s, "fid": fid(s)} for s in steps]


def _run(fid, seed=0):
    return SimpleNamespace(evals=_evals(fid), config={"steps": 1000, "eval_every": 100}, seed=seed)


def test_a_power_law_curve_is_solved_for_the_target():
    # FID = 1000 / sqrt(t): FID 10 at t = 10,000, ten times the run
    assert seed_updates(_evals(lambda t: 1000 / math.sqrt(t)), 10.0) == pytest.approx(10_000, rel=0.02)


def test_a_seed_already_at_the_target_needs_no_more_and_a_flat_one_never_gets_there():
    assert seed_updates(_evals(lambda t: 1000 / math.sqrt(t)), 40.0) == 1000  # at 31.6 by the end
    assert math.isinf(seed_updates(_evals(lambda t: 50.0 + (t % 200 == 0)), 10.0))  # flat around 50
    assert math.isinf(seed_updates(_evals(lambda t: 1000 / t ** 0.01), 10.0))  # beyond 100x the run
    assert seed_updates(_evals(lambda t: 80.0, steps=[100, 200]), 10.0) is None  # too few evaluations to fit


def test_the_text_names_steps_and_a_wall_time():
    runs = [_run(lambda t: 1000 / math.sqrt(t)), _run(lambda t: 1500 / math.sqrt(t), seed=1)]
    text = budget_text(runs, "fl-gan N=2", 10.0, seconds_per_seed=60.0, seeds=2)
    # seed 1's trend needs (1500 / 10)^2 = 22,500 updates; the stated --steps allows for trends falling short
    # (divided by 0.59), rounded up to an evaluation
    assert "trend reaches the target on every seed by about 22,5" in text
    steps = int(text.split("`--steps ")[1].split("`")[0])
    assert 22_000 / 0.59 <= steps <= 23_000 / 0.59 + 100 and steps % 100 == 0
    minutes = float(text.split("a study of about ")[1].split(" min")[0].replace(",", ""))
    assert minutes == pytest.approx(60 * 2 * steps / 1000 / 60, abs=1)
    assert "an extrapolation, not a measurement" in text


def test_a_flattened_seed_says_that_no_budget_is_sure_and_a_looser_target_would():
    runs = [_run(lambda t: 1000 / math.sqrt(t)), _run(lambda t: 60.0, seed=1)]
    text = budget_text(runs, "md-gan N=2", 10.0, seconds_per_seed=60.0, seeds=2)
    assert "1 of 2 seeds of md-gan N=2 have flattened" in text and "a looser --target would" in text
    assert "`--steps" not in text
