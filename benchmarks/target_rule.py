"""Does the default target of report/target_rule.py lie within reach? The rule, applied to committed studies.

    .venv/bin/python benchmarks/target_rule.py studies/default-s5-9 studies/default-s10-14 --name target_rule

Issue 45 asks of the rule (the worst smoothed FID of the reference's seeds at half the budget, never below 2x the
floor) that on every study it sets, every seed of the reference reaches the target under the report's endpoint,
and that at least half the methods reach it on every seed. Per study: the target the rule gives, the old default
(2x the floor), and per method the seeds that reach each. Writes benchmarks/results/NAME.{md,json}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import common

from distgan.report.aggregate import group_runs
from distgan.report.build import real_fid_floor
from distgan.report.load import load_runs, load_study
from distgan.report.target_rule import study_target
from distgan.report.verdicts import Target, target_reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("studies", nargs="+", help="study folders (distgan compare --out) of image data")
    parser.add_argument("--reference", default="standalone", help="the rule's reference (default: standalone)")
    parser.add_argument("--name", default="target_rule", help="results file name under benchmarks/results")
    args = parser.parse_args()
    common.setup_logging()
    data = {"reference": args.reference, "machine": common.machine(), "studies": {}}
    rows = []
    for folder in args.studies:
        runs = load_runs(Path(folder))
        groups = group_runs(runs)
        floor = real_fid_floor(runs)
        reference = (load_study(Path(folder)) or {}).get("reference") or args.reference
        rule = study_target(groups, reference, floor)
        if rule is None:
            rows.append([folder, "-", "-", "no run of the reference with an evaluation by half its budget", "-"])
            continue
        value, how = rule
        reached = {g.name: sum(target_reached(r, Target(False, value)) is not None for r in g.finished)
                   for g in groups}
        old = {g.name: sum(target_reached(r, Target(False, 2 * floor)) is not None for r in g.finished)
               for g in groups} if floor else {}
        every = [g.name for g in groups if g.finished and reached[g.name] == len(g.finished)]
        data["studies"][folder] = {"floor": floor, "target": value, "how": how, "reached": reached,
                                   "reached_2x_floor": old, "seeds": {g.name: len(g.finished) for g in groups},
                                   "every_seed": every}
        rows.append([folder, f"{value:.3g}", f"{2 * floor:.3g}" if floor else "-",
                     ", ".join(f"{g.name} {reached[g.name]}/{len(g.finished)}" for g in groups),
                     f"{len(every)} of {len(groups)}"])
    text = ("# The default target from the study itself (report/target_rule.py)\n\n"
            f"Reference: {args.reference}; read from the committed cells (their evaluations; no timing).\n\n"
            + common.markdown_table(["study", "target (rule)", "2x floor", "seeds at the target, per method",
                                     "methods at it on every seed"], rows))
    common.write_results(args.name, data, text)
    print(text)


if __name__ == "__main__":
    main()
