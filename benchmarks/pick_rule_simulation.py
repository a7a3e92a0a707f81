"""The pick rule by simulation: its false-pick rate in the least favourable case, and its power, at the spreads
of the committed default study (distgan/report/rule_check.py says how a study is simulated).

    .venv/bin/python benchmarks/pick_rule_simulation.py                 # k = 2, 4, 6; 5 and 10 seeds
    .venv/bin/python benchmarks/pick_rule_simulation.py --trials 4000

Rows: k methods, n paired seeds, and the true times: "least favourable" (one best, the others just beyond the
20% margin: any pick but the best is false), "all equal" (every pick is right; how often does it decide?),
and "one 20% / 35% faster" (the others equal and slower by that much). Writes
benchmarks/results/pick_rule_simulation.{md,json}.
"""

from __future__ import annotations

import argparse
import math
import random

import common

from distgan.report.rule_check import SPREADS, least_favourable, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=2000, help="simulated studies per row (default: 2000)")
    parser.add_argument("--name", default="pick_rule_simulation", help="results file name under benchmarks/results")
    args = parser.parse_args()
    common.setup_logging()
    cases = {"least favourable": least_favourable, "all equal": lambda k: [0.0] * k,
             "one 20% faster": lambda k: [0.0] + [math.log(1 / 0.8)] * (k - 1),
             "one 35% faster": lambda k: [0.0] + [math.log(1 / 0.65)] * (k - 1)}
    rows, data = [], {"spreads": SPREADS, "trials": args.trials, "machine": common.machine(), "rows": []}
    for k in (2, 4, 6):
        for seeds in (5, 10):
            for case, times in cases.items():
                outcome = simulate(times(k), seeds, args.trials, random.Random(1000 * k + seeds))
                rows.append([k, seeds, case, outcome.decided_rate, outcome.false_pick_rate])
                data["rows"].append({"k": k, "seeds": seeds, "case": case, "decided": outcome.decided_rate,
                                     "false_picks": outcome.false_pick_rate})
                common.log.info("k=%d seeds=%d %s: decided %.3f, false picks %.3f", k, seeds, case,
                                outcome.decided_rate, outcome.false_pick_rate)
    text = (f"# The pick rule by simulation\n\n{args.trials} simulated studies a row; spreads (log scale): time "
            f"{SPREADS['time']:.3f} per method, {SPREADS['seed']:.2f} shared by a seed, final FID "
            f"{SPREADS['quality']:.2f}; margin 20%, quality margin 25%, alpha 5%. A false pick is a pick whose true "
            "time is more than the margin worse than the best.\n\n"
            + common.markdown_table(["k methods", "paired seeds", "true times", "decided", "false picks"], rows))
    common.write_results(args.name, data, text)


if __name__ == "__main__":
    main()
