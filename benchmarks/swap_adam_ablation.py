"""MD-GAN's discriminator swap with Adam's moments carried or reset: paired seeds on one study.

    .venv/bin/python benchmarks/swap_adam_ablation.py --out runs/swap-adam --steps 600 --seeds 3

Runs `md-gan carry` and `md-gan reset` (N workers, swap every epoch) through `distgan compare`, so a
stopped run resumes, then prints each seed's final FID and the paired difference with a 95% Student t
interval. Results are recorded in docs/results.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from distgan.compare import Study, compare, plan
from distgan.stats import mean_ci


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
    fid: dict[str, dict[int, float]] = {}
    for cell in plan(study):
        summary = json.loads((Path(cell.config.out) / "summary.json").read_text())
        fid.setdefault(cell.label, {})[cell.seed] = summary["final_eval"]["fid"]
    seeds = sorted(fid["md-gan carry"])
    diffs = [fid["md-gan carry"][s] - fid["md-gan reset"][s] for s in seeds]
    for s in seeds:
        print(f"seed {s}: carry {fid['md-gan carry'][s]:.1f}  reset {fid['md-gan reset'][s]:.1f}")
    mean, low, high = mean_ci(diffs)
    verdict = "no detectable difference" if low <= 0 <= high else ("carry lower" if high < 0 else "reset lower")
    print(f"carry - reset: {mean:.1f}, 95% Student t CI [{low:.1f}, {high:.1f}] over {len(diffs)} seeds: {verdict}")


if __name__ == "__main__":
    main()
