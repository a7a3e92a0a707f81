"""The study's cost before it starts (issue 45, item 2): the pilot's arithmetic, --time-budget's sizing, --dry-run."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from distgan import compute_timing, estimate
from distgan.errors import DistganError
from distgan.estimate import Pilot
from distgan.study import Study, plan


def test_a_pilot_is_read_from_its_log_lines(tmp_path):
    """Updates 5..20 took 0.1 s each, the evaluation at 20 took 1.5 s, and the whole run 6 s: 2.5 s is fixed."""
    lines = [{"type": "train", "step": s, "wall_s": 0.4 + 0.1 * s} for s in (5, 10, 15, 20)]
    lines.append({"type": "eval", "step": 20, "wall_s": 2.4 + 1.5, "fid": 200.0})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    pilot = estimate.measure(tmp_path / "metrics.jsonl", wall=6.0)
    assert pilot.per_update == pytest.approx(0.1) and pilot.per_eval == pytest.approx(1.5)
    assert pilot.fixed == pytest.approx(6.0 - 20 * 0.1 - 1.5)
    assert pilot.cell(steps=800, eval_every=20) == pytest.approx(2.5 + 80 + 40 * 1.5)


@pytest.mark.parametrize("steps, every, count", [(800, 20, 40), (30, 6, 5), (31, 6, 6), (10, 0, 1)])
def test_evaluations_count_the_last_one(steps, every, count):
    assert estimate.evaluations(steps, every) == count


def test_cells_share_the_cores_and_the_compute_timing_follows():
    cells = plan(Study(methods=["standalone", "fl-gan"], workers=[2], seeds=3, steps=100, eval_every=50, out="x"))
    pilots = {"standalone": Pilot(0.1, 1.0, 2.0), "fl-gan": Pilot(0.2, 1.0, 2.0)}
    cost = estimate.study_seconds(cells, pilots, jobs=2, timed_apart=True)
    per_cell = {"standalone": 2 + 10 + 2, "fl-gan": 2 + 20 + 2}
    assert cost["cells_s"] == pytest.approx(3 * (per_cell["standalone"] + per_cell["fl-gan"]) / 2)
    repeats, steps = compute_timing.REPEATS, compute_timing.STEPS  # each label's short runs, one at a time
    assert cost["timing_s"] == pytest.approx(repeats * ((2 + 0.1 * steps + 1) + (2 + 0.2 * steps + 1)))
    assert cost["total_s"] == pytest.approx(cost["cells_s"] + cost["timing_s"]) and cost["unmeasured"] == []
    alone = estimate.study_seconds(cells[:1], pilots, jobs=2, timed_apart=False)
    assert alone["cells_s"] == pytest.approx(per_cell["standalone"])  # one cell cannot be split over two cores


def _sizing(budget: float, seeds: int = 5, steps: int = 800):
    study = Study(methods=["standalone", "fl-gan"], workers=[2], seeds=seeds, steps=steps, eval_every=20, out="x")
    pilot = Pilot(0.1, 0.0, 0.0)

    def seconds(candidate: Study) -> float:  # one core: every update of every cell in turn
        return estimate.study_seconds(plan(candidate), {"standalone": pilot, "fl-gan": pilot}, 1, False)["total_s"]

    return estimate.fit(study, plan, seconds, budget)


def test_time_budget_cuts_seeds_first_then_updates_in_whole_evaluations():
    kept, text = _sizing(budget=800.0)  # 2 labels x 5 seeds x 80 s
    assert (kept.seeds, kept.steps) == (5, 800) and "fits --time-budget" in text
    fewer, text = _sizing(budget=700.0)
    assert (fewer.seeds, fewer.steps) == (4, 800) and "4 seeds instead of 5" in text
    shorter, text = _sizing(budget=300.0)  # 3 seeds (the fewest) x 2 labels x 0.1 s: 500 updates fit
    assert (shorter.seeds, shorter.steps) == (3, 500) and "500 updates instead of 800" in text
    with pytest.raises(DistganError, match="--time-budget 20 s is too short: even 3 seeds of 40 updates"):
        _sizing(budget=20.0)


def test_dry_run_prints_the_plan_and_its_estimate_and_trains_nothing(tmp_path, capsys):
    from distgan.cli import main

    out = tmp_path / "study"
    code = main(["compare", "--dataset", "ring8", "--methods", "standalone,fl-gan", "--seeds", "2", "--steps", "30",
                 "--batch-size", "16", "--dry-run", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "4 cells: standalone, fl-gan; workers 2; 2 seeds from 5; 30 updates each; ring8" in printed
    minutes = re.search(r"estimated wall time: (\d+) (s|min) on this machine \(4 cells, \d+ side by side", printed)
    assert minutes and int(minutes.group(1)) > 0, printed
    assert re.search(r"  fl-gan: \d+ ms an update, \d+\.\d s an evaluation", printed)
    assert "dry run: nothing was trained" in printed and not out.exists()


def test_a_study_records_its_estimate_beside_its_measured_time(tmp_path):
    from distgan.compare import compare

    study = Study(methods=["standalone", "fl-gan"], workers=[2], dataset="ring8", steps=20, batch_size=16,
                  backend="sim", out=str(tmp_path), progress=False, seeds=1)
    compare(study)
    cost = json.loads((tmp_path / "study.json").read_text())["cost"]
    assert cost["cells"] == 2 and cost["unmeasured"] == [] and set(cost["per_label"]) == {"standalone", "fl-gan"}
    assert 0 < cost["cells_s"] <= cost["total_s"] and cost["measured_s"] > 0
    assert all(p["per_update"] > 0 and p["per_eval"] >= 0 for p in cost["per_label"].values())
    row = next(line for line in (tmp_path / "report.md").read_text().splitlines()
               if line.startswith("| wall time of the study |"))
    assert f"estimated {cost['total_s'] / 60:.1f} min" in row and f"took {cost['measured_s'] / 60:.1f} min" in row
    compare(dataclasses.replace(study))  # nothing left to run: the estimate of the part that ran is kept
    assert json.loads((tmp_path / "study.json").read_text())["cost"] == cost


def test_the_compute_timing_runs_fewer_updates_where_they_are_slow(monkeypatch):
    monkeypatch.setattr(compute_timing, "STEPS", 100)  # the shipped figures, not the tests' short ones
    assert compute_timing.steps_for(0.06) == 100 and compute_timing.steps_for(None) == 100
    assert compute_timing.steps_for(0.2) == 60  # 12 s of updates
    assert compute_timing.steps_for(1.0) == compute_timing.MIN_STEPS == 30
