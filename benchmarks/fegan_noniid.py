"""FeGAN against FL-GAN on non-IID data: paired seeds, same partition, same budget.

    .venv/bin/python benchmarks/fegan_noniid.py --out runs/fegan-noniid --partition shards:2 --seeds 3

Both methods select half the workers per round (--client-fraction 0.5), so FeGAN's balanced sampling has
something to choose. Runs through `distgan compare`, so a stopped study resumes. Prints each seed's final
FID and the paired difference with a 95% Student t interval; docs/results.md records the output.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from distgan.compare import Study, compare, plan
from distgan.stats import mean_ci


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/fegan-noniid")
    parser.add_argument("--partition", default="shards:2")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--dataset", default="digits")
    args = parser.parse_args()
    shared = {"client_fraction": 0.5}
    # the two halves of FeGAN apart: balanced sampling with FedAvg's weights, KL weights with uniform sampling
    study = Study(methods=["fl-gan", "fe-gan", "fe-gan sampling-only", "fe-gan weighting-only"],
                  workers=[args.workers], dataset=args.dataset, partition=args.partition, steps=args.steps,
                  seeds=args.seeds, backend="sim", out=args.out, progress=False,
                  overrides={"fl-gan": shared, "fe-gan": shared,
                             "fe-gan sampling-only": {**shared, "kl_weighting": "none"},
                             "fe-gan weighting-only": {**shared, "sampling": "uniform"}})
    compare(study)
    fid: dict[str, dict[int, float]] = {}
    for cell in plan(study):
        summary = json.loads((Path(cell.config.out) / "summary.json").read_text())
        fid.setdefault(cell.label, {})[cell.seed] = summary["final_eval"]["fid"]
    seeds = sorted(fid["fl-gan"])
    for s in seeds:
        print(f"seed {s}: " + "  ".join(f"{label} {fid[label][s]:.1f}" for label in fid))
    for label in [m for m in study.methods if m != "fl-gan"]:
        diffs = [fid[label][s] - fid["fl-gan"][s] for s in seeds]
        mean, low, high = mean_ci(diffs)
        verdict = "no detectable difference" if low <= 0 <= high else ("lower" if high < 0 else "higher")
        print(f"{label} - fl-gan: {mean:.1f}, 95% Student t CI [{low:.1f}, {high:.1f}] over {len(diffs)} seeds: "
              f"{verdict}")


if __name__ == "__main__":
    main()
