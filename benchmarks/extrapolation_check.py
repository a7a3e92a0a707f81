"""Is report/extrapolate.py's budget right? Cut long committed runs short, extrapolate, compare with what they did.

    .venv/bin/python benchmarks/extrapolation_check.py studies/recipe-digits-10k studies/recipe-mnist5k-5k \
        studies/mdgan-paper-12k --name extrapolation_check

For every finished run: keep only its evaluations up to a share of its budget (--cut, default 0.25), take as the
target the FID its smoothed curve reached at a later share (--at, default 0.5, and 1.0), and compare the updates
the extrapolation of the cut curve asks for with the updates the run really took (the report's endpoint on its
whole curve). Writes benchmarks/results/NAME.{md,json}: per study the median and range of predicted / actual.
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

import common

from distgan.report.endpoint import reached_at, score
from distgan.report.extrapolate import seed_updates
from distgan.report.load import load_runs
from distgan.report.target_rule import smoothed_fid_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("studies", nargs="+")
    parser.add_argument("--cut", type=float, default=0.25, help="share of the budget the extrapolation sees")
    parser.add_argument("--at", default="0.5,1.0", help="shares of the budget whose smoothed FID is the target")
    parser.add_argument("--name", default="extrapolation_check")
    args = parser.parse_args()
    common.setup_logging()
    shares = [float(x) for x in args.at.split(",")]
    rows, data = [], {"cut": args.cut, "studies": {}}
    for folder in args.studies:
        for share in shares:
            ratios, flat, runs_seen = [], 0, 0
            for run in load_runs(Path(folder)):
                steps = float(run.config.get("steps") or 0)
                if run.summary is None or not steps:
                    continue
                target = smoothed_fid_at(run.evals, share * steps)
                actual = target and reached_at(run.evals, lambda e, t=target: score(e, False, t * 1.0001))
                seen = [e for e in run.evals if (e.get("g_updates") or e.get("step") or 0) <= args.cut * steps]
                predicted = seed_updates(seen, target) if target else None
                if not actual or predicted is None:
                    continue
                runs_seen += 1
                if math.isinf(predicted):
                    flat += 1
                else:
                    ratios.append(predicted / actual)
            entry = {"runs": runs_seen, "flat": flat, "ratios": [round(r, 3) for r in ratios]}
            data["studies"][f"{folder}@{share}"] = entry
            rows.append([folder, f"{args.cut:g} -> {share:g}", runs_seen, flat,
                         f"{statistics.median(ratios):.2f}" if ratios else "-",
                         f"[{min(ratios):.2f}, {max(ratios):.2f}]" if ratios else "-"])
    text = ("# The censored-budget extrapolation against what long runs did (benchmarks/extrapolation_check.py)\n\n"
            f"Each run's curve cut at {args.cut:g} of its budget; the target is its own smoothed FID at the later "
            "share; predicted / actual updates to that target (1 is exact, above 1 asks for too many).\n\n"
            + common.markdown_table(["study", "seen -> target at", "runs", "no finite budget", "median ratio",
                                     "range"], rows))
    common.write_results(args.name, data, text)
    print(text)


if __name__ == "__main__":
    main()
