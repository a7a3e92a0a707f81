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


def write_trace(folder, seconds: float, nbytes: int) -> None:
    """Twenty steps of: rank 0 computes `seconds`, then sends `nbytes` to rank 1."""
    import json

    lines = []
    for step in range(1, 21):
        lines.append({"rank": 0, "step": step, "updates": 1, "ops": [["c", "work", seconds], ["s", "k", 1, nbytes, 0]]})
    lines += [{"rank": 1, "step": step, "updates": 1, "ops": [["r", "k", 0, nbytes, 0]]} for step in range(1, 21)]
    (folder / "trace.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_report_with_a_network_plots_projected_wall_time_and_finds_the_crossover(tmp_path):
    import re

    from fake_runs import write_run

    from distgan.report import build_report

    write_trace(write_run(tmp_path, "md-gan_w1_s0", method="md-gan", workers=1), 0.5, 1_000)
    write_trace(write_run(tmp_path, "fl-gan_w1_s0", method="fl-gan", workers=1), 0.1, 1_000_000)
    build_report(tmp_path, target=150.0, network="wan")
    md = (tmp_path / "report.md").read_text()
    assert "## Quality against projected wall time, per network" in md and (tmp_path / "fid_vs_projected.png").is_file()
    # a blocking send returns once its bytes are in the socket buffer (replay.py), so fl-gan's rank 0 is held by
    # the link, not by each send: the two are equal when 8e6 bits / (bandwidth x 1448/1514) = md-gan's 0.5 s a
    # step, about 16.7 Mbit/s (the buffer lets the last sends end a little sooner)
    found = re.search(r"Crossover at about ([0-9.]+) Mbit/s: below it fl-gan N=1 reaches FID <= 150 later than "
                      r"md-gan N=1", md)
    assert found and 15 < float(found.group(1)) < 18, md
