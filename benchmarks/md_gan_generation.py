"""MD-GAN's K batches generated with a G forward pass each (Algorithm 1) or in one joint pass: paired seeds.

    .venv/bin/python benchmarks/md_gan_generation.py --out runs/mdgan-generation --steps 500 --seeds 3
    .venv/bin/python benchmarks/md_gan_generation.py --out runs/mdgan-generation-b10 --workers 8 --k log \
        --batch-size 10 --steps 2000 --eval-every 400

Runs `md-gan per-batch` and `md-gan joint` (--md-generation; N workers, simulated) through `distgan compare`,
so a stopped run resumes, then prints each seed's final FID and the paired difference with a 95% Student t
interval. In `joint` G's BatchNorm normalises over K b samples, as distgan did before
--md-generation existed.
"""

from __future__ import annotations

import argparse

import common

from distgan.api import compare
from distgan.study import Study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/mdgan-generation")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--k", default="1")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--batch-size", type=int, default=None, help="b (default: the data's, 64 for images)")
    parser.add_argument("--eval-every", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    arms = {f"md-gan {how}": {"md_generation": how, "k": args.k} for how in ("per-batch", "joint")}
    study = Study(methods=list(arms), workers=[args.workers], dataset=args.dataset, steps=args.steps,
                  seeds=args.seeds, backend="sim", out=args.out, progress=False, threads=args.threads,
                  batch_size=args.batch_size, eval_every=args.eval_every,
                  reference="md-gan joint", overrides=arms,
                  notes=[f"md-gan, k={args.k}: each X^(j) = G(Z_j) its own forward pass (per-batch, Algorithm 1) "
                         "or one forward of all K b samples (joint, distgan before --md-generation); the same noise."])
    compare(study)
    runs = common.study_runs(study)
    per_batch, joint = common.final_fid(runs["md-gan per-batch"]), common.final_fid(runs["md-gan joint"])
    for s in sorted(per_batch):
        print(f"seed {s}: per-batch {per_batch[s]:.2f}  joint {joint[s]:.2f}")
    print(common.paired_difference("per-batch - joint", per_batch, joint, digits=2))


if __name__ == "__main__":
    main()
