"""compute_timing.json: each method's compute per update timed apart from the cells. The report scales a cell's
traced compute to it and widens the pick's bounds by its spread."""

from __future__ import annotations

import json

import pytest
from fake_runs import write_run
from test_crossover import write_trace

from distgan import compute_timing
from distgan.network.profiles import IDEAL
from distgan.report.load import load_runs
from distgan.report.projections import Projections


def test_seconds_per_update_leave_out_the_warmup_and_the_spread_is_half_the_range():
    assert compute_timing._per_update({5: 0.9, 10: 1.0, 20: 2.0, 60: 6.0}, skip=10) == pytest.approx(0.1)
    entry = compute_timing.summary([1.0, 1.2, 1.1])
    assert entry["median"] == 1.1 and entry["error"] == pytest.approx(0.1 / 1.1)


def test_a_cell_is_projected_with_its_method_s_compute_timed_apart(tmp_path):
    # the trace says 0.5 s of compute a step; timed apart, the method needs 0.25 s: the projection halves
    run = write_run(tmp_path, "md-gan_w1_s0", method="md-gan", workers=1)
    write_trace(run, 0.5, 1_000)
    assert compute_timing.traced_seconds_per_update(run, skip=0) == pytest.approx(0.5)
    (tmp_path / compute_timing.FILE).write_text(json.dumps({"labels": {"md-gan": compute_timing.summary([0.25])}}))
    (loaded,) = load_runs(tmp_path)
    plain, timed = Projections(), Projections(compute_timing.load(tmp_path))
    assert timed.replay(loaded, IDEAL).wall_s == pytest.approx(plain.replay(loaded, IDEAL).wall_s / 2)
    assert compute_timing.errors(tmp_path) == {"md-gan": 0.0}
