"""The report from hand-written run folders: seeds reduced to mean ± std, n/a, failures, the FID floor."""

from __future__ import annotations

import json

import pytest
from fake_runs import write_run

from distgan.errors import DistganError
from distgan.report import build_report
from distgan.report.aggregate import group_runs, stat
from distgan.report.load import load_runs
from distgan.report.table import table


def test_stat_is_mean_and_sample_std():
    assert stat([10.0, 20.0]) == pytest.approx((15.0, 7.0710678, 2))
    assert stat([3, None]) == (3.0, 0.0, 1)
    assert stat([None, "x", True]) is None


def test_seeds_are_averaged_and_missing_measures_are_na(tmp_path):
    for seed, fid in ((0, 10.0), (1, 20.0)):
        write_run(tmp_path, f"md-gan_w2_s{seed}", seed=seed, final={"fid": fid, "kid": 1.0, "num_classes": 10})
    write_run(tmp_path, "standalone_w1_s0", method="standalone", workers=1)
    header, rows = table(group_runs(load_runs(tmp_path)))
    md = dict(zip(header, rows[0] if rows[0][0] == "md-gan" else rows[1]))
    assert md["FID ↓ (± 95% CI)"] == "15 ± 64"  # t(0.975, 1) 12.71 x 7.07 / sqrt(2)
    assert md["seeds done"] == "2/2"
    assert md["score ↑ (± 95% CI)"] == "n/a" and md["classes covered"] == "n/a"  # not measured: n/a, not 0
    solo = dict(zip(header, rows[0] if rows[0][0] == "standalone" else rows[1]))
    assert solo["server sent / recv"] == "n/a"  # no server in a standalone run


def test_report_lists_failed_cells_and_dropped_ranks(tmp_path):
    write_run(tmp_path, "md-gan_w2_s0", failures=[{"rank": 2, "step": 7, "what": "connection closed"}])
    write_run(tmp_path, "fl-gan_w2_s0", method="fl-gan", finished=False)
    write_run(tmp_path, "sync-dp_w2_s0", method="sync-dp", finished=False)
    (tmp_path / "failures.json").write_text(json.dumps([{"cell": "fl-gan_w2_s0", "label": "fl-gan", "workers": 2,
                                                         "seed": 0, "error": "rank 0 exited with code 1"}]))
    html = build_report(tmp_path).read_text()
    assert "fl-gan N=2 seed 0 (fl-gan_w2_s0) failed: rank 0 exited with code 1" in html
    assert "sync-dp N=2 seed 0 (sync-dp_w2_s0) is unfinished" in html
    assert "md-gan N=2 seed 0: rank 2 failed at step 7 (connection closed)" in html
    assert "0/1" in html  # the failed cells' rows say no seed finished
    assert "1.5" in html  # the real-vs-real FID floor from the summary


def test_single_run_folder_is_a_report_too(tmp_path):
    run = write_run(tmp_path, "one")
    assert build_report(run) == run / "report.html"
    assert (run / "report.md").is_file() and (run / "fid_vs_updates.png").is_file()


def test_folder_without_runs_is_refused(tmp_path):
    with pytest.raises(DistganError, match="holds no run folders"):
        build_report(tmp_path)
    with pytest.raises(DistganError, match="no such folder"):
        build_report(tmp_path / "missing")


def test_report_shows_updates_that_missed_the_round_deadline(tmp_path):
    run = write_run(tmp_path, "fl-gan_w2_s0", method="fl-gan")
    summary = json.loads((run / "summary.json").read_text())
    summary["late"] = [{"rank": 2, "step": 3, "late_s": 1.9}, {"rank": 2, "step": 9, "late_s": 4.25}]
    (run / "summary.json").write_text(json.dumps(summary))
    html = build_report(tmp_path).read_text()
    assert ("fl-gan N=2 seed 0: 2 update(s) missed the round deadline and were discarded (ranks 2; the latest, "
            "rank 2 at step 9, 4.2 s late)") in html


def test_a_study_that_sweeps_the_straggler_factor_gets_a_time_to_target_plot(tmp_path):
    for slow, fid in (([], 100.0), (["2:5"], 100.0), (["2:20"], 300.0)):
        run = write_run(tmp_path, f"fl-gan-x{len(slow) and slow[0][2:]}_w2_s0", method="fl-gan",
                        final={"fid": fid, "kid": 1.0, "num_classes": 10})
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**config, "slow": slow}))
    html = build_report(tmp_path, target=150.0).read_text()
    assert "Time to target against the straggler factor" in html
    assert (tmp_path / "stragglers.png").is_file()
    assert "Never met the target, so not shown: fl-gan x20 seed 0." in html


def test_no_straggler_plot_without_a_sweep(tmp_path):
    write_run(tmp_path, "fl-gan_w2_s0", method="fl-gan")
    build_report(tmp_path, target=150.0)
    assert not (tmp_path / "stragglers.png").exists()
