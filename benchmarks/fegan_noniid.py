"""FeGAN against FL-GAN on non-IID data: paired seeds, same partition, same budget.

    .venv/bin/python benchmarks/fegan_noniid.py --out runs/fegan-noniid --partition shards:2 --seeds 3

Both methods select half the workers per round (--client-fraction 0.5), so FeGAN's balanced sampling has
something to choose. Runs through `distgan compare`, so a stopped study resumes. Prints each seed's final
FID and the paired difference with a 95% Student t interval; docs/results.md records the output.
"""

from __future__ import annotations

import argparse

import common

from distgan.api import compare
from distgan.study import Study


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
    fid = {label: common.final_fid(runs) for label, runs in common.study_runs(study).items()}
    for s in sorted(fid["fl-gan"]):
        print(f"seed {s}: " + "  ".join(f"{label} {fid[label][s]:.1f}" for label in fid))
    for label in [m for m in study.methods if m != "fl-gan"]:
        print(common.paired_difference(f"{label} - fl-gan", fid[label], fid["fl-gan"]))


if __name__ == "__main__":
    main()
