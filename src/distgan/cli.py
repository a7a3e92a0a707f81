"""`distgan` on the command line: parse flags into a RunConfig and call the Python API."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import Any

from distgan.config import FIELDS, RunConfig, config_from_mapping, load_config_json, load_toml
from distgan.errors import DistganError

HELP = {
    "method": "standalone | sync-dp | async-ps | fl-gan | md-gan",
    "dataset": "ring8 | grid25 | digits | mnist5k | mnist:DIR | fashion-mnist:DIR | cifar10:DIR | folder:DIR "
               "(see `distgan datasets`)",
    "partition": "how data is spread over workers: iid | dirichlet:ALPHA (label skew) | shards:K (McMahan)",
    "workers": "N workers that hold data; server methods add rank 0 as the server (N+1 processes)",
    "backend": "process: one OS process per rank over torch.distributed | sim: all ranks in this process",
    "steps": "training budget in generator updates (see the README for what a step is per method)",
    "batch_size": "b, samples per batch per worker",
    "seed": "seed of data partition, model init, noise and schedules; same seed, same numbers",
    "out": "run folder: config.json, metrics.jsonl, samples/, checkpoint.pt, summary.json",
    "device": "auto (CUDA when present) | cpu | cuda",
    "loss": "bce (non-saturating) | hinge | lsgan",
    "z_dim": "latent size; 0 picks 8 for points, 64 for images",
    "eval_every": "evaluate FID/KID/score (or modes for 2-D) every this many steps; 0: only at the end",
    "eval_samples": "generated samples per evaluation",
    "k": "md-gan: generated batches per iteration: an integer, log (ceil(log N)) or n (N)",
    "disc_steps": "md-gan: L, discriminator steps per iteration on each worker",
    "swap_every": "md-gan: E, epochs between discriminator swaps among workers",
    "pull_every": "async-ps: steps between parameter pulls from the server",
    "push_every": "async-ps: steps between gradient pushes to the server",
    "local_steps": "fl-gan: local steps per round on every worker",
    "local_epochs": "fl-gan: local epochs E per round (overrides --local-steps when > 0)",
    "client_fraction": "fl-gan: fraction C of workers sampled per round",
    "fail": "fault injection: RANK@STEP makes that rank exit hard at that step (repeatable)",
    "worker_timeout": "seconds before a silent peer counts as dead",
    "master_addr": "rendezvous address of our launcher; loopback unless DISTGAN_BIND_ALL=1",
    "threads": "torch threads per process; 0 shares the cores among processes",
    "progress": "show a progress bar",
}
HIDDEN = {"resume"}

TRAIN_EPILOG = """examples:
  distgan train --dataset ring8 --steps 2000 --out runs/ring8
  distgan train --method md-gan --workers 4 --dataset mnist5k --steps 2000 --out runs/mdgan
  distgan train --method fl-gan --workers 64 --backend sim --dataset mnist5k --steps 200 --out runs/fl64
  distgan train --resume runs/mdgan --steps 4000        # continue from its checkpoint
  torchrun --nnodes 2 --nproc-per-node 3 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
      -m distgan train --method md-gan --workers 5 --dataset mnist5k --out runs/multi
"""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for every other bad input
        sys.stderr.write(f"distgan: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(RunConfig):
        if f.name in HIDDEN:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else []
        help_text = f"{HELP.get(f.name, '')} (default: {default})".strip()
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif isinstance(default, list):
            p.add_argument(flag, action="append", default=None, metavar="RANK@STEP", help=help_text)
        else:
            p.add_argument(flag, type=type(default), default=None, help=help_text,
                           metavar=f.name.upper().replace("_", "-"))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="distgan", description="Train GANs across many workers and compare distributed "
                    "training methods: standalone, sync-dp, async-ps, fl-gan, md-gan.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train = sub.add_parser("train", help="train one GAN with one method", epilog=TRAIN_EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           description="Train a GAN. Flags override --config FILE (TOML), which overrides "
                           "the defaults. Writes a run folder to --out.")
    train.add_argument("--config", metavar="FILE", help="TOML file with the same settings as the flags")
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint")
    _add_run_flags(train)
    sub.add_parser("datasets", help="list the dataset specs with shapes and sizes")
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """defaults < --config TOML (or the resumed run's config.json) < flags."""
    values: dict[str, Any] = {}
    if args.resume:
        from pathlib import Path

        values = load_config_json(Path(args.resume) / "config.json").to_dict()
        values.update(out=args.resume, resume=True)
    if args.config:
        values.update(load_toml(args.config))
    for name in FIELDS.keys() - HIDDEN:
        flag_value = getattr(args, name, None)
        if flag_value is not None:
            values[name] = flag_value
    return config_from_mapping(values, "--config" if args.config else "flags").validate()


def _datasets() -> None:
    from distgan.data.registry import describe_datasets

    for row in describe_datasets():
        sys.stdout.write("  ".join(f"{k}={v}" for k, v in row.items()) + "\n")


def main(argv: list[str] | None = None) -> int:
    from distgan.logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        if args.command == "datasets":
            _datasets()
        elif args.command == "train":
            from distgan.api import train

            summary = train(config_from_args(args))
            if summary:
                logging.getLogger("distgan").info("done: %s", _headline(summary))
    except DistganError as e:
        sys.stderr.write(f"distgan: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("distgan: interrupted; resume with --resume OUT\n")
        return 130
    return 0


def _headline(summary: dict[str, Any]) -> str:
    parts = [f"{summary['method']} x{summary['workers']}", f"{summary['wall_s']:.0f}s"]
    for key in ("fid", "score", "modes_captured", "hq_pct"):
        if key in summary.get("final_eval", {}):
            parts.append(f"{key} {summary['final_eval'][key]:.3g}")
    return ", ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
