"""Verdicts pair seeds, give a 95% interval, and say "no detectable difference" when it is the truth."""

from __future__ import annotations

import json

from fake_runs import write_run

from distgan.report import build_report
from distgan.report.aggregate import group_runs
from distgan.report.load import load_runs
from distgan.report.verdicts import Target, first_reached, quality_verdicts, time_table


def fid(value: float) -> dict:
    return {"fid": value, "kid": 1.0, "score": 2.0, "classes_covered": 5, "num_classes": 10}


def study(tmp_path, md_gan: list[float], standalone: list[float]):
    for seed, (a, b) in enumerate(zip(md_gan, standalone)):
        write_run(tmp_path, f"md-gan_w2_s{seed}", seed=seed, final=fid(a))
        write_run(tmp_path, f"standalone_w1_s{seed}", method="standalone", workers=1, seed=seed, final=fid(b))
    return group_runs(load_runs(tmp_path))


def test_a_consistent_paired_difference_is_a_verdict(tmp_path):
    # md-gan is 5 lower on every seed, while the seeds themselves vary by 40: pairing sees it
    (line,) = quality_verdicts(study(tmp_path, [50, 70, 90], [55, 75.5, 94.5]), "standalone", points=False)
    assert line.startswith("md-gan N=2 reaches lower FID than standalone: difference -5, 95% CI [")
    assert "3 seeds" in line


def test_overlapping_noise_is_no_detectable_difference(tmp_path):
    (line,) = quality_verdicts(study(tmp_path, [50, 80, 60], [60, 70, 65]), "standalone", points=False)
    assert "no detectable difference in final FID at this budget and number of seeds" in line


def test_one_seed_gives_no_verdict(tmp_path):
    (line,) = quality_verdicts(study(tmp_path, [50], [60]), "standalone", points=False)
    assert "from one seed; no interval, no verdict" in line


def test_time_to_target_counts_updates_and_says_never(tmp_path):
    groups = study(tmp_path, [10, 10], [300, 300])  # fake runs evaluate at 10 updates (2x final) and 20
    target = Target(points=False, value=25.0)
    run = groups[0].finished[0]
    assert first_reached(run, target)["g_updates"] == 10  # md-gan: 20 at step 10 already meets FID <= 25
    header, rows = time_table(groups, target)
    by_method = {r[0]: dict(zip(header, r)) for r in rows}
    assert by_method["md-gan"]["reached"] == "2 of 2 seeds"
    assert by_method["standalone"]["G updates"] == "never reached"


def test_a_run_that_moves_no_bytes_reaches_the_target_at_zero_bytes(tmp_path):
    folder = write_run(tmp_path, "standalone_w1_s0", method="standalone", workers=1, final=fid(10))
    summary = json.loads((folder / "summary.json").read_text())
    summary["bytes"] = {"total_sent": 0, "total_recv": 0, "per_rank": {"0": {"sent": {}, "recv": {}}}}
    (folder / "summary.json").write_text(json.dumps(summary))
    header, rows = time_table(group_runs(load_runs(tmp_path)), Target(points=False, value=25.0))
    row = dict(zip(header, rows[0]))
    assert row["G updates"] == "10 (1 seed)" and row["bytes moved"] == "0 B (1 seed)"


def test_report_has_verdicts_and_time_to_target(tmp_path):
    study(tmp_path, [50, 70, 90], [55, 75.5, 94.5])
    build_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## Verdicts" in md and "## Time to target" in md and "95% CI" in md
    assert "Target: FID <= 3 (2x the real-vs-real FID floor, the default)" in md  # fake floor 1.5


def test_without_standalone_the_first_method_is_the_reference(tmp_path):
    for seed, (a, b) in enumerate([(30, 35), (40, 45.5), (50, 54.5)]):
        write_run(tmp_path, f"fe-gan_w2_s{seed}", method="fe-gan", seed=seed, final=fid(a))
        write_run(tmp_path, f"fl-gan_w2_s{seed}", method="fl-gan", seed=seed, final=fid(b))
    build_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "fl-gan N=2 reaches higher FID than fe-gan N=2" in md


def test_runs_scored_by_different_classifiers_do_not_pair(tmp_path):
    import json

    study(tmp_path, [50, 70, 90], [55, 75.5, 94.5])
    for seed in range(3):  # standalone seed 2 was scored on another machine, by another classifier
        standalone = "aaaa" if seed < 2 else "bbbb"
        for name, classifier in ((f"md-gan_w2_s{seed}", "aaaa"), (f"standalone_w1_s{seed}", standalone)):
            path = tmp_path / name / "summary.json"
            path.write_text(json.dumps({**json.loads(path.read_text()), "metrics_classifier": classifier}))
    (line,) = quality_verdicts(group_runs(load_runs(tmp_path)), "standalone", points=False)
    assert "2 seeds" in line and "3 seeds" not in line
    build_report(tmp_path)
    assert "scored by 2 different metrics classifiers" in (tmp_path / "report.md").read_text()


def test_a_run_without_a_classifier_hash_still_pairs(tmp_path):
    import json

    study(tmp_path, [50, 70, 90], [55, 75.5, 94.5])
    path = tmp_path / "md-gan_w2_s0" / "summary.json"  # one run recorded its classifier, the others predate it
    path.write_text(json.dumps({**json.loads(path.read_text()), "metrics_classifier": "aaaa"}))
    (line,) = quality_verdicts(group_runs(load_runs(tmp_path)), "standalone", points=False)
    assert "3 seeds" in line
