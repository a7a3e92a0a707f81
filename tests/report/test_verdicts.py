"""Verdicts pair seeds, correct for the family's size, count censored seeds, and never turn a zero-width or
sub-resolution interval into a verdict. Every expected number below is worked out by hand in the comment."""

from __future__ import annotations

import json
import re

import pytest
from fake_runs import write_run

from distgan.report import build_report
from distgan.report.aggregate import group_runs
from distgan.report.comparison import correct
from distgan.report.load import load_runs
from distgan.report.verdicts import Target, quality_verdicts, target_reached, time_comparisons, time_table

STEPS = list(range(100, 1001, 100))


def fid(value: float) -> dict:
    return {"fid": value, "kid": 1.0, "score": 2.0, "classes_covered": 5, "num_classes": 10}


def study(tmp_path, md_gan: list[float], standalone: list[float], **others: list[float]):
    for seed, (a, b) in enumerate(zip(md_gan, standalone)):
        write_run(tmp_path, f"md-gan_w2_s{seed}", seed=seed, final=fid(a))
        write_run(tmp_path, f"standalone_w1_s{seed}", method="standalone", workers=1, seed=seed, final=fid(b))
    for method, values in others.items():
        for seed, value in enumerate(values):
            write_run(tmp_path, f"{method}_w2_s{seed}", method=method, seed=seed, final=fid(value))
    return group_runs(load_runs(tmp_path))


def bounds(line: str) -> tuple[float, float]:
    low, high = re.search(r"CI \[([-\d.,e]+), ([-\d.,e]+)\]", line).groups()
    return float(low.replace(",", "")), float(high.replace(",", ""))


def test_a_consistent_paired_difference_is_a_verdict_with_its_bounds(tmp_path):
    # diffs -5, -5.5, -4.5: mean -5, sd 0.5, half-width 4.303 * 0.5 / sqrt(3) = 1.242; t = -17.3, p = 0.0033
    (line,) = quality_verdicts(study(tmp_path, [50, 70, 90], [55, 75.5, 94.5]), "standalone", points=False)
    assert line.startswith("md-gan N=2 reaches lower FID than standalone: difference -5, 95% CI [")
    assert bounds(line) == (-6.24, -3.76)
    assert "3 paired seeds, paired t p = 0.0033" in line


def test_holm_widens_the_interval_and_can_remove_a_verdict(tmp_path):
    # md-gan: diffs -4, -5, -6, p = 0.0131 alone (t = -8.66 on 2 df); three more lines with p near 1 make a
    # family of 4, where Holm needs 0.05 / 4 = 0.0125 for the smallest p: no verdict any more
    groups = study(tmp_path, [46, 65, 84], [50, 70, 90], **{"fl-gan": [51, 69, 90], "fe-gan": [49, 71, 90],
                                                             "sync-dp": [50, 71, 89]})
    lines = quality_verdicts(groups, "standalone", points=False)
    md = next(line for line in lines if line.startswith("md-gan"))
    assert "no detectable difference in final FID" in md
    assert "paired t p = 0.013, Holm-adjusted 0.052 over 4" in md
    # a kept line shows the Bonferroni level: t_{1 - 0.0125/2, 2} = 8.860, half-width 8.860 / sqrt(3) = 5.115
    assert "98.75% CI" in md and bounds(md) == (-10.1, 0.115)
    alone = quality_verdicts(group_runs([r for r in load_runs(tmp_path) if r.method in ("md-gan", "standalone")]),
                             "standalone", points=False)
    assert alone[0].startswith("md-gan N=2 reaches lower FID than standalone")


def test_overlapping_noise_is_no_detectable_difference_and_says_what_would_decide(tmp_path):
    # diffs -1, 0, -2: mean -1, sd 1, p = 0.225; effect size 1 needs 10 paired seeds at 80% power (G*Power).
    # A margin of 0.5 keeps the interval [-3.5, 1.5] from being called equivalent.
    (line,) = quality_verdicts(study(tmp_path, [49, 70, 88], [50, 70, 90]), "standalone", points=False, margin=0.5)
    assert "no detectable difference in final FID" in line
    assert "10 paired seeds would detect a difference of this size" in line


def test_an_interval_inside_the_margin_is_equivalence(tmp_path):
    # diffs 0.1, 0, -0.1: mean 0, CI +-0.248; margin 10% of standalone's mean 70 = 7
    (line,) = quality_verdicts(study(tmp_path, [50.1, 70, 89.9], [50, 70, 90]), "standalone", points=False)
    assert "equivalent within ±7 in final FID" in line
    (strict,) = quality_verdicts(group_runs(load_runs(tmp_path)), "standalone", points=False, margin=0.2)
    assert "equivalent" not in strict and "no detectable difference" in strict


def test_the_same_value_on_every_seed_is_no_verdict(tmp_path):
    (same,) = quality_verdicts(study(tmp_path, [50, 70, 90], [50, 70, 90]), "standalone", points=False)
    assert "the same final FID on every one of 3 seeds" in same and "CI" not in same


def test_one_seed_gives_no_verdict(tmp_path):
    (line,) = quality_verdicts(study(tmp_path, [50], [60]), "standalone", points=False)
    assert "from one seed; no interval, no verdict" in line


def timed(tmp_path, md_gan: list[int | None], standalone: list[int | None]):
    """Runs whose FID drops to 2 (under the target 3) at the given step, or never (None)."""
    for seed, (a, b) in enumerate(zip(md_gan, standalone)):
        for name, method, workers, at in (("md-gan", "md-gan", 2, a), ("standalone", "standalone", 1, b)):
            curve = [(s, 2.0 if at is not None and s >= at else 10.0) for s in STEPS]
            write_run(tmp_path, f"{name}_w{workers}_s{seed}", method=method, workers=workers, seed=seed,
                      curve=curve)
    return group_runs(load_runs(tmp_path))


def time_line(groups) -> str:
    (comparison,) = correct(time_comparisons(groups, "standalone", Target(points=False, value=3.0)))
    return comparison.line()


def test_a_seed_that_misses_is_censored_and_never_makes_its_method_faster(tmp_path):
    # md-gan is first on seeds 0 and 1, but never reaches the target on seed 2: 2 wins, 1 loss
    line = time_line(timed(tmp_path, [200, 300, None], [500, 600, 700]))
    assert "needs fewer" not in line and "no detectable difference" in line
    assert "md-gan N=2 first on 2, standalone first on 1, tied on 0 of 3 paired seeds" in line
    assert "censored at the budget: md-gan N=2 missed on seed 2" in line


def test_the_side_that_reached_beats_the_side_that_missed(tmp_path):
    # the reference misses on every seed: 3 wins, but a sign test on 3 pairs has p >= 0.25; 6 would decide
    line = time_line(timed(tmp_path, [200, 300, 400], [None, None, None]))
    assert "no detectable difference" in line and "sign test p = 0.25" in line
    assert "6 paired seeds would decide" in line
    six = time_line(timed(tmp_path / "six", [200, 300, 400, 200, 300, 400], [None] * 6))
    assert six.startswith("md-gan N=2 needs fewer generator updates to reach the target than standalone: ")
    assert "sign test p = 0.031" in six


def test_the_missing_reference_never_wins_either(tmp_path):
    line = time_line(timed(tmp_path, [None, None, None], [200, 300, 400]))
    assert "md-gan N=2 first on 0, standalone first on 3" in line and "needs more" not in line


def test_a_difference_within_one_evaluation_interval_is_no_verdict(tmp_path):
    # diffs -100, 0, -100 updates with an evaluation every 100: mean -67, under the resolution
    line = time_line(timed(tmp_path, [400, 500, 600], [500, 500, 700]))
    assert "within one evaluation interval (100 generator updates)" in line and "CI" not in line


def test_a_zero_width_interval_is_no_verdict(tmp_path):
    # every seed 100 updates sooner: the interval would be [-100, -100]
    line = time_line(timed(tmp_path, [400, 500, 600], [500, 600, 700]))
    assert "differs by exactly -100 on every one of 3 seeds" in line and "CI" not in line


def test_time_table_counts_censored_seeds_and_has_no_negative_bound(tmp_path):
    groups = timed(tmp_path, [200, 300, None], [500, 600, 700])
    target = Target(points=False, value=3.0)
    # FID 10 until update 200, then 2: the running median of log(FID / 3) crosses 0 between updates 100 and 200,
    # from (log(10/3) + log(2/3)) / 2 at 100 (the first window holds two evaluations) to log(2/3) at 200
    import math

    start, end = (math.log(10 / 3) + math.log(2 / 3)) / 2, math.log(2 / 3)
    crossing = 100 + 100 * start / (start - end)
    assert target_reached(groups[0].finished[0], target)["g_updates"] == pytest.approx(crossing)
    header, rows = time_table(groups, target)
    row = {r[0]: dict(zip(header, r)) for r in rows}
    assert row["md-gan"]["reached"] == "2 of 3 seeds"
    assert row["md-gan"]["G updates"] == "275 [150, > final]"  # the median of 149.6, 274.8 and a censored seed
    assert row["standalone"]["G updates"] == "575 [475, 675]"  # 74.8% of the way from the evaluation before


def test_a_run_that_moves_no_bytes_reaches_the_target_at_zero_bytes(tmp_path):
    folder = write_run(tmp_path, "standalone_w1_s0", method="standalone", workers=1, final=fid(1))
    summary = json.loads((folder / "summary.json").read_text())
    summary["bytes"] = {"total_sent": 0, "total_recv": 0, "per_rank": {"0": {"sent": {}, "recv": {}}}}
    (folder / "summary.json").write_text(json.dumps(summary))
    header, rows = time_table(group_runs(load_runs(tmp_path)), Target(points=False, value=25.0))
    row = dict(zip(header, rows[0]))
    assert row["G updates"] == "10 (1 seed)" and row["bytes moved"] == "0 B (1 seed)"


def test_each_line_states_what_one_update_costs_on_each_side(tmp_path):
    for seed, (a, b) in enumerate([(50, 55), (70, 75.5), (90, 94.5)]):
        write_run(tmp_path, f"md-gan_w2_s{seed}", seed=seed, final=fid(a), real_per_update=16)
        write_run(tmp_path, f"standalone_w1_s{seed}", method="standalone", workers=1, seed=seed, final=fid(b),
                  real_per_update=8)
    (line,) = quality_verdicts(group_runs(load_runs(tmp_path)), "standalone", points=False)
    assert ("Per update: md-gan N=2 16 real, 8 generated; standalone 8 real, 8 generated; compute not traced for "
            "md-gan N=2 and standalone.") in line


def test_equal_real_images_can_disagree_with_the_per_update_verdict(tmp_path):
    # per update md-gan ends lower (5 against 6), but it sees 2x the real images: at standalone's 8,000 real
    # images (md-gan's update 500) md-gan stood at 9 against standalone's 6
    for seed in range(3):
        write_run(tmp_path, f"md-gan_w2_s{seed}", seed=seed, real_per_update=16,
                  curve=[(s, 9.0 + 0.1 * seed if s <= 500 else 5.0 + 0.1 * seed) for s in STEPS])
        write_run(tmp_path, f"standalone_w1_s{seed}", method="standalone", workers=1, seed=seed, real_per_update=8,
                  curve=[(s, 6.0 + 0.3 * seed if s >= 1000 else 12.0) for s in STEPS])
    build_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    verdict = next(line for line in md.splitlines() if line.startswith("- md-gan N=2 reaches lower FID"))
    assert "At equal real images seen the comparison gives worse for md-gan N=2, which disagrees" in verdict
    # the equal-images line: diffs 3, 2.8, 2.6: mean 2.8, sd 0.2, half-width 4.303 * 0.2 / sqrt(3) = 0.497
    assert "- md-gan N=2 reaches higher FID than standalone: difference 2.8, 95% CI [2.3, 3.3]" in md


def test_report_names_holm_and_the_tests(tmp_path):
    study(tmp_path, [50, 70, 90], [55, 75.5, 94.5], **{"fl-gan": [51, 69, 90]})
    build_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## Verdicts" in md and "## Time to target" in md
    assert "a family of 2 tested comparisons, corrected with Holm's step-down method" in md
    # no --target and a fake floor of 1.5 that no seed nears: standalone's worst seed at half its budget (update 10
    # of 20) is the running median of its 2 evaluations, 94.5 x sqrt(2) = 133.6, rounded up (report/target_rule.py)
    assert ("Target: FID <= 134 (the worst smoothed FID of standalone's 3 seeds at half its budget: the default "
            "where the data has no measured target, since 2x the floor, 3, is not reached that soon)") in md


def test_without_standalone_the_first_method_is_the_reference(tmp_path):
    for seed, (a, b) in enumerate([(30, 35), (40, 45.5), (50, 54.5)]):
        write_run(tmp_path, f"fe-gan_w2_s{seed}", method="fe-gan", seed=seed, final=fid(a))
        write_run(tmp_path, f"fl-gan_w2_s{seed}", method="fl-gan", seed=seed, final=fid(b))
    build_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "fl-gan N=2 reaches higher FID than fe-gan N=2: difference 5, 95% CI [3.76, 6.24]" in md


def test_runs_scored_by_different_classifiers_do_not_pair(tmp_path):
    study(tmp_path, [50, 70, 90], [55, 75.5, 94.5])
    for seed in range(3):  # standalone seed 2 was scored on another machine, by another classifier
        standalone = "aaaa" if seed < 2 else "bbbb"
        for name, classifier in ((f"md-gan_w2_s{seed}", "aaaa"), (f"standalone_w1_s{seed}", standalone)):
            path = tmp_path / name / "summary.json"
            path.write_text(json.dumps({**json.loads(path.read_text()), "metrics_classifier": classifier}))
    (line,) = quality_verdicts(group_runs(load_runs(tmp_path)), "standalone", points=False)
    assert "2 paired seeds" in line and "3 paired seeds" not in line
    build_report(tmp_path)
    assert "scored by 2 different metrics classifiers" in (tmp_path / "report.md").read_text()


def test_a_run_without_a_classifier_hash_still_pairs(tmp_path):
    study(tmp_path, [50, 70, 90], [55, 75.5, 94.5])
    path = tmp_path / "md-gan_w2_s0" / "summary.json"  # one run recorded its classifier, the others predate it
    path.write_text(json.dumps({**json.loads(path.read_text()), "metrics_classifier": "aaaa"}))
    (line,) = quality_verdicts(group_runs(load_runs(tmp_path)), "standalone", points=False)
    assert "3 paired seeds" in line


def test_the_report_of_a_fixed_study_gets_every_direction_and_bound(tmp_path):
    # against standalone 50, 70, 90: fl-gan +10 +-0.5 (t = 34.6), md-gan -5 +-0.5 (t = -17.3), fe-gan 2, -1, 1.
    # Holm, m = 3: fl-gan first at 1 - 0.05/3 (t_{1-0.05/6, 2} = 7.649, half-width 7.649 * 0.5 / sqrt(3) = 2.21),
    # md-gan second at 1 - 0.05/2 (t = 6.205, half-width 1.79), fe-gan kept at Bonferroni's 98.33%
    # (half-width 7.649 * 1.528 / sqrt(3) = 6.75 around 0.667), which is not inside the margin of 7
    study(tmp_path, [45, 64.5, 85.5], [50, 70, 90], **{"fl-gan": [60, 80.5, 99.5], "fe-gan": [52, 69, 91]})
    build_report(tmp_path)
    section = (tmp_path / "report.md").read_text().split("## Verdicts")[1].split("\n## ")[0]
    lines = {line[2:].split(" ")[0]: line for line in section.splitlines() if line.startswith("- ")}
    assert len(lines) == 3
    assert lines["fl-gan"].startswith("- fl-gan N=2 reaches higher FID than standalone: difference 10, 98.33% CI")
    assert bounds(lines["fl-gan"]) == (7.79, 12.2)
    assert lines["md-gan"].startswith("- md-gan N=2 reaches lower FID than standalone: difference -5, 97.5% CI")
    assert bounds(lines["md-gan"]) == (-6.79, -3.21)
    assert "no detectable difference in final FID" in lines["fe-gan"] and "98.33% CI" in lines["fe-gan"]
    assert bounds(lines["fe-gan"]) == (-6.08, 7.41)
