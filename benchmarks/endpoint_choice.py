"""Which time-to-target endpoint is least noisy: each rule of distgan/report/endpoint.py on a study's cells.

    .venv/bin/python benchmarks/endpoint_choice.py studies/demo-default --name endpoint_choice
    .venv/bin/python benchmarks/endpoint_choice.py runs/fresh-a --name endpoint_confirm

For every rule, per method: on how many seeds the target is reached, and the coefficient of variation of the
generator updates to it; per pair of methods: the standard deviation, over paired seeds, of the log ratio of
their updates to target (the spread the pick rule's intervals are made of). The rule with the smallest mean
pairwise spread, among those that censor no more seeds than the old one, is the one to choose; run it on the
committed cells to choose, then on fresh seeds to confirm. Writes benchmarks/results/NAME.{md,json}.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
from pathlib import Path

import common

from distgan.report.aggregate import group_runs
from distgan.report.endpoint import RULES, reached_at, score
from distgan.report.load import load_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", help="a study folder (distgan compare --out)")
    parser.add_argument("--target", type=float, default=20.0, help="FID target (default: 20, the default study's)")
    parser.add_argument("--name", default="endpoint_choice", help="results file name under benchmarks/results")
    args = parser.parse_args()
    common.setup_logging()
    groups = [g for g in group_runs(load_runs(Path(args.study))) if g.finished]
    data, rows = {"study": args.study, "target": args.target, "machine": common.machine(), "rules": {}}, []
    for rule in RULES:
        times = {g.name: {r.seed: reached_at(r.evals, lambda e: score(e, False, args.target), rule)
                          for r in g.finished} for g in groups}
        censored = sum(t is None for per in times.values() for t in per.values())
        cv = {name: _cv([t for t in per.values() if t is not None]) for name, per in times.items()}
        spreads = {}
        for a, b in itertools.combinations(times, 2):
            logs = [math.log(times[a][s] / times[b][s]) for s in sorted(set(times[a]) & set(times[b]))
                    if times[a][s] and times[b][s]]
            if len(logs) >= 2:
                spreads[f"{a} / {b}"] = statistics.stdev(logs)
        mean_spread = statistics.fmean(spreads.values()) if spreads else math.nan
        data["rules"][rule] = {"censored_seeds": censored, "cv": cv, "pair_log_sd": spreads,
                               "mean_pair_log_sd": mean_spread}
        rows.append([rule, censored, f"{statistics.fmean(cv.values()):.3f}",
                     f"{max(cv.values()):.3f}", f"{mean_spread:.3f}", f"{max(spreads.values()):.3f}"])
    header = ["rule", "censored seeds", "mean CV of updates", "largest CV", "mean sd of paired log ratio",
              "largest sd of paired log ratio"]
    text = (f"# Time-to-target endpoints on {args.study}\n\nTarget FID <= {args.target:g}; "
            f"{sum(len(g.finished) for g in groups)} cells. Rules: distgan/report/endpoint.py.\n\n"
            + common.markdown_table(header, rows))
    common.write_results(args.name, data, text)


def _cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.fmean(values) if len(values) >= 2 else math.nan


if __name__ == "__main__":
    main()
