"""The recipe ablation: standalone with each candidate setting, paired seeds, FID against generator updates.

    .venv/bin/python benchmarks/recipe.py --dataset digits --steps 2000 --seeds 3 --out runs/recipe-digits

Each candidate is a label of one `distgan compare` study (so a stopped ablation resumes). Prints, per
candidate, FID at each evaluation (mean over seeds), the first evaluation within 1.5x (digits) or 2x of
the real-vs-real floor, the final FID against the baseline (paired, 95% Student t CI) and the cost per
step (wall seconds per generator update). docs/recipe.md records the output.
"""

from __future__ import annotations

import argparse
import statistics

import common

from distgan.api import compare
from distgan.study import Study

# Every candidate before the EMA's warm-up and the deeper G became defaults names them off, so that its cells
# reproduce; today's defaults are the `recipe` candidate.
BEFORE = {"g_depth": 0, "g_ema": 0.0, "g_ema_warmup": False}
CANDIDATES = {
    "standalone base": {**BEFORE, "lr_g": 2e-4, "lr_d": 2e-4},  # the first defaults: BCE, Adam 2e-4, (0.5, 0.999)
    "standalone ttur": {**BEFORE, "lr_g": 1e-4, "lr_d": 4e-4},  # Heusel et al. 2017
    "standalone hinge-sn": {**BEFORE, "lr_g": 2e-4, "lr_d": 2e-4, "loss": "hinge", "spectral_norm": True},  # Miyato
    "standalone ema": {**BEFORE, "lr_g": 2e-4, "lr_d": 2e-4, "g_ema": 0.999},
    "standalone lr4e-4": {**BEFORE, "lr_g": 4e-4, "lr_d": 4e-4},
    "standalone lr4e-4-ema": {**BEFORE, "lr_g": 4e-4, "lr_d": 4e-4, "g_ema": 0.999},
    "standalone lr8e-4": {**BEFORE, "lr_g": 8e-4, "lr_d": 8e-4},
    "standalone lr8e-4-ema": {**BEFORE, "lr_g": 8e-4, "lr_d": 8e-4, "g_ema": 0.999},
    "standalone width64-ema": {**BEFORE, "lr_g": 2e-4, "lr_d": 2e-4, "width": 64, "g_ema": 0.999},
    "standalone lr4e-4-ema-now": {**BEFORE, "lr_g": 4e-4, "lr_d": 4e-4, "g_ema": 0.999},  # the same, on today's split
    "standalone deepg-ema": {**BEFORE, "lr_g": 4e-4, "lr_d": 4e-4, "g_ema": 0.999, "g_depth": 1},
    "standalone deepg": {**BEFORE, "lr_g": 4e-4, "lr_d": 4e-4, "g_depth": 1},
    "standalone deepg2-ema": {**BEFORE, "lr_g": 4e-4, "lr_d": 4e-4, "g_ema": 0.999, "g_depth": 2},
    "standalone lr8e-4-deepg2": {**BEFORE, "lr_g": 8e-4, "lr_d": 8e-4, "g_depth": 2},  # mnist5k: digits' largest gain
    "standalone lr8e-4-deepg2-ema": {**BEFORE, "lr_g": 8e-4, "lr_d": 8e-4, "g_depth": 2, "g_ema": 0.999,
                                     "g_ema_warmup": True},
    "standalone recipe": {},  # the defaults: 4e-4, --g-depth 2, --g-ema 0.999 with its warm-up
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--out", default="runs/recipe")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (0: share the cores)")
    args = parser.parse_args()
    labels = args.candidates.split(",")
    threads = {"threads": args.threads} if args.threads else {}
    study = Study(methods=labels, workers=[1], dataset=args.dataset, steps=args.steps, seeds=args.seeds,
                  backend="sim", out=args.out, eval_every=args.eval_every, progress=False,
                  overrides={label: {**CANDIDATES[label], **threads} for label in labels
                             if CANDIDATES[label] or threads},
                  reference=labels[0])
    compare(study)
    runs = common.study_runs(study)
    factor = 1.5 if args.dataset == "digits" else 2.0
    base = labels[0]
    for label in labels:
        seeds = runs[label]
        floor = statistics.mean(r["summary"]["real_fid_floor"] for r in seeds.values())
        steps = [e["g_updates"] for e in next(iter(seeds.values()))["evals"]]
        curve = [statistics.mean(r["evals"][i]["fid"] for r in seeds.values()) for i in range(len(steps))]
        reached = [next((e["g_updates"] for e in r["evals"] if e["fid"] <= factor * floor), None)
                   for r in seeds.values()]
        cost = statistics.mean(r["summary"]["wall_s"] / r["summary"]["steps"] for r in seeds.values())
        print(f"{label}: floor {floor:.2f}; FID at {steps}: {[round(v, 1) for v in curve]}; "
              f"first within {factor}x floor: {reached}; {cost * 1000:.1f} ms per update")
        if label != base:
            print("    " + common.paired_difference(f"final FID - {base}", common.final_fid(seeds),
                                                     common.final_fid(runs[base]), digits=2))


if __name__ == "__main__":
    main()
