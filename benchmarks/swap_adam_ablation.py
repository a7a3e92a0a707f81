"""MD-GAN's discriminator swap with Adam's moments carried or reset: paired seeds on one study.

    .venv/bin/python benchmarks/swap_adam_ablation.py --out runs/swap-adam --steps 600 --seeds 3

Runs `md-gan carry` and `md-gan reset` (N workers, swap every epoch) through `distgan compare`, so a
stopped run resumes, then prints each seed's final FID and the paired difference with a 95% Student t
interval. Results are recorded in docs/results.md.
"""

from __future__ import annotations

import argparse

import common

from distgan.api import compare
from distgan.study import Study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/swap-adam")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--dataset", default="digits")
    args = parser.parse_args()
    study = Study(methods=["md-gan carry", "md-gan reset"], workers=[args.workers], dataset=args.dataset,
                  steps=args.steps, seeds=args.seeds, backend="sim", out=args.out, progress=False,
                  overrides={"md-gan carry": {"swap_adam": "carry"}, "md-gan reset": {"swap_adam": "reset"}})
    compare(study)
    runs = common.study_runs(study)
    carry, reset = common.final_fid(runs["md-gan carry"]), common.final_fid(runs["md-gan reset"])
    for s in sorted(carry):
        print(f"seed {s}: carry {carry[s]:.1f}  reset {reset[s]:.1f}")
    print(common.paired_difference("carry - reset", carry, reset))


if __name__ == "__main__":
    main()
