"""`distgan` on the command line: parse flags into a RunConfig and call the Python API."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distgan import run_folder
from distgan.config import FIELDS, RunConfig, config_from_mapping, field_type, load_config_json, load_toml
from distgan.errors import DistganError, Terminated, stop_on_sigterm
from distgan.methods import REGISTRY
from distgan.stopping import RunStopped, exit_code, request_on_signals, request_then_interrupt

if TYPE_CHECKING:
    from distgan.study import Study

HELP = {
    "compress": "encode every counted message: none | fp16 | bf16 | int8 | topk:F (the fraction F of largest "
                "entries, with error feedback, on gradient messages only); bytes counted are the encoded ones. "
                "Optimizer state (md-gan/swap-adam) stays float32, and push-sum weights are never encoded",
    "compress_kinds": "comma list of the message kinds to compress, e.g. md-gan/feedback (default: all of the "
                      "method's; `distgan methods` lists its kinds). Naming md-gan/swap-adam under --compress "
                      "bf16 sends Adam's moments in bf16; no other codec may carry them",
    "dp_epsilon": "differential privacy: each worker's records get (epsilon, delta)-DP over the whole run, by DP-SGD "
                  "on every D step that reads them (Opacus; docs/privacy.md). 0: off",
    "dp_delta": "delta of the guarantee (by data: 1/m for a worker of m records)",
    "dp_clip": "C: each record's gradient is clipped to this norm before the noise",
    "method": "the method (see `distgan methods`): " + " | ".join(REGISTRY),
    "dataset": "ring8 | grid25 | digits | mnist5k | mnist:DIR | fashion-mnist:DIR | cifar10:DIR | folder:DIR "
               "(see `distgan datasets`)",
    "partition": "how data is spread over workers: iid | dirichlet:ALPHA (label skew) | shards:K (McMahan)",
    "workers": "N workers that hold data; server methods add rank 0 as the server (N+1 processes)",
    "backend": "process: one OS process per rank over torch.distributed | sim: all ranks in this process",
    "steps": "training budget in generator updates (see the README for what a step is per method); 10,000 for "
             "8x8 images (digits), 2,000 otherwise (docs/recipe.md)",
    "batch_size": "b, samples per batch per worker; 256 for 2-D points, 64 for images",
    "seed": "seed of data partition, model init, noise and schedules; same seed, same numbers",
    "out": "run folder: config.json, metrics.jsonl, samples/, checkpoint.pt, summary.json",
    "device": "auto (CUDA when present) | cpu | cuda. With fewer GPUs than processes, processes share GPUs and "
              "talk over gloo through host memory (NCCL takes one process per GPU; docs/gpus.md)",
    "batched_sim": "sim backend: step md-gan's workers, and fl-gan's and fe-gan's clients, as one batched "
                   "computation (vmap) instead of in turn; auto: on a GPU (on this CPU it is no faster); results "
                   "equal the loop's within float tolerance",
    "ranks_per_gpu": "at most this many processes on one GPU (FeGAN ran up to 16); 0: as many as the run needs. "
                     "A run whose processes cannot fit in a GPU's memory is refused before it starts",
    "lr_g": "Adam learning rate of G; 1e-3 for 2-D points, 4e-4 for 8x8 images, 8e-4 for 28x28, 2e-4 for "
            "32x32 (docs/recipe.md)",
    "lr_d": "Adam learning rate of D; 1e-3 for 2-D points, 4e-4 for 8x8 images, 8e-4 for 28x28, 2e-4 for "
            "32x32 (docs/recipe.md)",
    "loss": "bce (non-saturating) | hinge | lsgan",
    "g_ema": "decay of an exponential moving average of G's weights, kept on the rank that holds G and used for "
             "samples and evaluations; 0.999 for 8x8 images, 0 (off) otherwise",
    "g_ema_warmup": "the EMA's decay at update t is min(--g-ema, (1+t)/(10+t)), so it follows G early in a run "
                    "instead of lagging behind its random start",
    "spectral_norm": "spectral normalisation on every layer of D (Miyato et al. 2018)",
    "z_dim": "latent size; 8 for 2-D points, 64 for images",
    "width": "width of G and D: hidden units of the 2-D MLPs (128), base channels of the 8x8 conv pair (32) "
             "and of the 28x28/32x32 DCGAN (64)",
    "g_depth": "extra 3x3 conv blocks (conv, BatchNorm, ReLU) in a conv G: at 8x8 before the output layer for "
               "digits, at half resolution before the last upsampling for DCGAN; 2 for 8x8 and 28x28 images, 0 "
               "for 32x32 (not measured) (docs/recipe.md)",
    "eval_every": "evaluate FID/KID/score (or modes for 2-D) every this many steps; 0: only at the end",
    "eval_samples": "generated samples per evaluation; 1,000 for images, 2,500 for 2-D points (VEEGAN/PacGAN)",
    "fail": "fault injection: RANK@STEP makes that rank exit hard at that step (repeatable)",
    "hang": "fault injection: RANK@STEP:SECONDS freezes that rank (SIGSTOP, heartbeat included) that long",
    "slow": "straggler: RANK:FACTOR makes that rank's compute FACTOR times slower (it idles, still beating)",
    "heartbeat_timeout": "seconds without a heartbeat before a worker counts as hung and is dropped; a worker "
                         "that is late but beating is never dropped",
    "worker_timeout": "seconds the rendezvous and collectives (sync-dp) wait, and a worker waits on a silent "
                      "server; not a liveness test for server methods (see --heartbeat-timeout)",
    "rejoin": "server methods on processes: when a worker is lost (killed, or dropped as hung and woken), "
              "restart the group from the last checkpoint with every worker, so that it rejoins",
    "master_addr": "rendezvous address of our launcher; loopback unless DISTGAN_BIND_ALL=1",
    "threads": "torch threads per process; 0 shares the cores among processes",
    "progress": "show a progress bar",
    "tensorboard": "write a TensorBoard event file into the run folder (`tensorboard --logdir OUT`)",
    "trace": "record each rank's messages and compute phases into trace.jsonl, for `distgan project`",
}
HIDDEN = {"resume", "options", "is_resolved", "run_id"}

TRAIN_EPILOG = """examples:
  distgan train --dataset ring8 --steps 2000 --out runs/ring8
  distgan train --method md-gan --workers 4 --dataset mnist5k --steps 2000 --out runs/mdgan
  distgan train --method fl-gan --workers 64 --backend sim --dataset mnist5k --steps 200 --out runs/fl64
  distgan train --resume runs/mdgan --steps 4000        # continue from its checkpoint
  torchrun --nnodes 2 --nproc-per-node 3 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
      -m distgan train --method md-gan --workers 5 --dataset mnist5k --out runs/multi
"""


COMPARE_EPILOG = """examples:
  distgan compare                                  # the default study: {default}
  distgan compare --network wan,20mbit,0ms --require data-stays-local,no-restart   # your network, your constraints
  distgan compare --methods standalone,md-gan --workers 1,2,4,8 --dataset mnist5k --steps 2000
  distgan compare --dataset ring8 --backend sim --steps 400 --out runs/ring8-compare
  distgan compare --preset mdgan-paper             # the MD-GAN paper's comparison, scaled down
  distgan compare --preset mdgan-paper --cells 'md-gan*'   # one part of it; another process can run the rest
  distgan report runs/compare                      # rebuild report.html and report.md from the runs

Each (method, workers, seed) cell is a run folder under --out (e.g. md-gan_w4_s0/). Started again, the
same command skips the cells that finished (summary.json exists), resumes a cell that was stopped part-way
from its last checkpoint (--checkpoint-every of the run, 250 steps by default), and starts the others.
A cell that fails is recorded in failures.json and the study goes on; the report lists it.
standalone runs once per seed (one process) whatever --workers says.
"""

REPORT_EPILOG = """examples:
  distgan report runs/compare       # the --out folder of a study
  distgan report runs/mdgan         # a single run folder works too

Writes report.html (self-contained: open it anywhere), report.md and the PNG plots into DIR.
"""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for every other bad input
        sys.stderr.write(f"distgan: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(RunConfig):
        if f.name in HIDDEN:
            continue
        default = f.default if f.default is not dataclasses.MISSING else []
        _add_flag(p, f.name, field_type(f.name), default, HELP.get(f.name, ""))
    methods = p.add_argument_group("method settings", "each applies to the methods it names; see `distgan methods`")
    seen = set()
    for spec in REGISTRY.values():
        for f in spec.option_fields():
            if f.name not in seen:
                seen.add(f.name)
                _add_flag(methods, f.name, type(f.default), f.default, f.metadata.get("help", ""))


def _add_flag(p: Any, name: str, kind: type, default: Any, text: str) -> None:
    flag = "--" + name.replace("_", "-")
    shown = "by data" if default is None else default
    help_text = f"{text} (default: {shown})".strip()
    if kind is bool:
        p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
    elif kind is list:
        metavar = {"hang": "RANK@STEP:SECONDS", "slow": "RANK:FACTOR"}.get(name, "RANK@STEP")
        p.add_argument(flag, action="append", default=None, metavar=metavar, help=help_text)
    else:
        p.add_argument(flag, type=kind, default=None, help=help_text, metavar=name.upper().replace("_", "-"))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="distgan", description="Train GANs across many workers and compare distributed "
                    "training methods: " + ", ".join(REGISTRY) + ".")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train = sub.add_parser("train", help="train one GAN with one method", epilog=TRAIN_EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           description="Train a GAN. Flags override --config FILE (TOML), which overrides "
                           "the defaults. Writes a run folder to --out.")
    train.add_argument("--config", metavar="FILE", help="TOML file with the same settings as the flags")
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint")
    _add_run_flags(train)
    sub.add_parser("datasets", help="list the dataset specs with shapes and sizes")
    sub.add_parser("methods", help="list the methods with their traits, read from the method registry")
    _add_compare(sub)
    report = sub.add_parser("report", help="(re)build the report of the runs in a folder", epilog=REPORT_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            description="Read every run folder at or under DIR and write report.html, "
                            "report.md and the plots beside them.")
    report.add_argument("dir", metavar="DIR", help="a `distgan compare --out` folder, or one run folder")
    _add_verdict_flags(report)
    _add_network_flags(report)
    _add_project(sub)
    return parser


PROJECT_EPILOG = """examples:
  distgan project runs/mdgan --network wan                 # datacenter | lan | wan | edge
  distgan project runs/mdgan --network 100mbit,0ms --json
  distgan project runs/compare --network 10mbit/50mbit,60ms # every run of a study, and each method's mean

Replays the run's trace.jsonl on one link per rank (up, down, latency; the server's link shared by its flows,
all-reduce as a ring, swaps peer to peer) with each role's compute timed alone. See docs/network.md.
"""


def _add_project(sub: Any) -> None:
    p = sub.add_parser("project", help="project a run's or a study's wall time onto another network",
                       epilog=PROJECT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Projected wall time per run and per method on a network profile, and the "
                       "share spent communicating.")
    p.add_argument("path", metavar="RUN_OR_STUDY", help="a finished run folder, or a study folder")
    p.add_argument("--network", required=True, metavar="NAME|BW,LATENCY",
                   help="datacenter (25 Gbit/s, 50 us) | lan (1 Gbit/s, 0.5 ms) | wan (100 Mbit/s, 30 ms) | edge "
                   "(10 Mbit/s up / 50 down, 60 ms) | BW,LATENCY such as 100mbit,0ms or 10mbit/50mbit,60ms")
    p.add_argument("--compute", default="auto", choices=("auto", "trace", "calibrate"),
                   help="compute seconds: calibrate (each role timed alone; auto for process runs) or trace "
                   "(as the run measured them; auto for simulated runs)")
    p.add_argument("--json", action="store_true", help="print the projection as one JSON object")


def _add_compare(sub: Any) -> None:
    from distgan import presets as p_
    from distgan import study as c

    default = (f"{len(c.DEFAULT_METHODS)} methods x{c.DEFAULT_WORKERS} workers, {c.DEFAULT_DATASET}, "
               f"{c.DEFAULT_STEPS} steps, {c.DEFAULT_SEEDS} seeds, --backend {c.DEFAULT_BACKEND}, target FID <= "
               f"{c.DEFAULT_TARGET:g}; its report opens with which method to pick on each network")
    p = sub.add_parser("compare", help="run several methods side by side and write a report",
                       epilog=COMPARE_EPILOG.format(default=default),
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train every (method, workers, seed) cell with the same budget of generator "
                       "updates, evaluating as they go, then write report.html and report.md into --out. "
                       "Flags override --preset, which overrides the default study.")
    p.add_argument("--preset", metavar="NAME", help="start from a preset study. mdgan-paper: "
                   "standalone b=10 and b=100, FL-GAN E=1, MD-GAN k=1 and k=log, N in "
                   f"{','.join(map(str, p_.PAPER_WORKERS))} (the paper's: 1,10,25,50), digits (the paper's: MNIST), "
                   f"iid, b=10, {p_.PAPER_STEPS} steps, an unconditional GAN (the paper's: ACGAN). stragglers: "
                   "fl-gan, md-gan, async-ps with worker rank 2 slowed x1, x4, x16 (--slow), 3 workers, digits. "
                   f"privacy: {', '.join(p_.PRIVACY_METHODS)} at epsilon = inf, 10, 3, 1 per worker (--dp-epsilon), "
                   f"N = {p_.PRIVACY_WORKERS}, digits, {p_.PRIVACY_STEPS} steps, 3 seeds. compression: "
                   f"{', '.join(p_.COMPRESSION_METHODS)} with {', '.join(p_.COMPRESSION_CODECS)} (--compress; "
                   f"top-k on gradient messages only), N = {p_.COMPRESSION_WORKERS}, {p_.COMPRESSION_STEPS} steps. "
                   f"gossip: {', '.join(p_.GOSSIP_METHODS)}, N = {','.join(map(str, p_.GOSSIP_WORKERS))}, "
                   f"{p_.GOSSIP_STEPS} steps; run it per --partition (iid, dirichlet:0.1) with its own --out")
    p.add_argument("--methods", metavar="LIST", help="comma list of methods (default: "
                   f"{','.join(c.DEFAULT_METHODS)}); with --preset, its labels too (e.g. 'md-gan k=log')")
    p.add_argument("--workers", metavar="N[,N...]", help=f"worker counts, e.g. 4 or 1,2,4,8 (default: "
                   f"{c.DEFAULT_WORKERS})")
    p.add_argument("--dataset", metavar="DATASET", help=f"{HELP['dataset']} (default: {c.DEFAULT_DATASET})")
    p.add_argument("--partition", metavar="PARTITION", help=f"{HELP['partition']} (default: {c.DEFAULT_PARTITION})")
    p.add_argument("--steps", type=int, metavar="STEPS", help="budget in generator updates for every method "
                   f"(default: {c.DEFAULT_STEPS}); the report prints what a step is for each")
    p.add_argument("--seeds", type=int, metavar="S", help=f"seeds per cell, from --first-seed (default: "
                   f"{c.DEFAULT_SEEDS})")
    p.add_argument("--first-seed", type=int, metavar="F", help="the first seed (default: 0; the default study: "
                   f"{c.DEFAULT_FIRST_SEED}, since seeds 0-4 chose its endpoint and margins)")
    p.add_argument("--backend", metavar="BACKEND", help=f"{HELP['backend']} (default: {c.DEFAULT_BACKEND})")
    p.add_argument("--batch-size", type=int, metavar="B",
                   help="b per worker (default: 256 for 2-D points, 64 for images)")
    p.add_argument("--eval-every", type=int, metavar="STEPS", help="evaluate every this many steps "
                   f"(default: 0, meaning steps/{c.EVALS_PER_RUN})")
    p.add_argument("--out", metavar="DIR", help=f"study folder (default: {c.DEFAULT_OUT}; "
                   "runs/mdgan-paper with that preset)")
    p.add_argument("--cells", metavar="GLOB[,GLOB...]", help="run only the cells whose folder name matches, e.g. "
                   "'md-gan*_w10_*' or 'standalone*,fl-gan*'; several processes given disjoint globs can share --out")
    p.add_argument("--until-decided", action="store_true", default=None, help="after the first --seeds, add "
                   "seeds (2 a look, at most 3 looks) only to the methods of the profiles still undecided, until "
                   "every profile is decided or --time-budget is spent; each look decides at alpha / 3, so the "
                   "false-pick rate over all looks stays at most 5%% (docs/compare.md)")
    p.add_argument("--time-budget", metavar="DURATION", help="what the study may take, such as 20m or 1h: it cuts "
                   "seeds (down to 3), then updates, until its estimate fits, and says what it chose; with "
                   "--until-decided, what its looks may spend in all (default: no limit)")
    p.add_argument("--dry-run", action="store_true", help="print the cells and the estimated wall time (from a "
                   "pilot of each method on this machine), then exit without training the study")
    p.add_argument("--estimate", action=argparse.BooleanOptionalAction, default=None, help="time a pilot of "
                   "each method (20 updates) and print the study's estimated wall time before its first cell "
                   "(default: on)")
    p.add_argument("--jobs", type=int, metavar="J", help="cells run side by side, each in its own process with its "
                   "share of the cores (default: the number of cores); a stopped study still resumes cell by cell. "
                   "Cells side by side slow each other: measured wall time means little then, projected wall time "
                   "is unaffected")
    _add_network_flags(p)
    p.add_argument("--compress", metavar="CODEC", help="encode every cell's counted messages: fp16 | bf16 | int8 | "
                   "topk:F (default: none)")
    p.add_argument("--dp-epsilon", type=float, metavar="EPS", help="train every cell with differential privacy: "
                   "each worker's records get (EPS, 1/m)-DP by DP-SGD on D (docs/privacy.md); the pick can then "
                   "ask --require 'epsilon<=EPS' (default: 0, off)")
    p.add_argument("--threads", type=int, metavar="T", help="torch threads per process (default: 0, sharing the "
                   "cores); give 1 to each of several studies running side by side")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="show progress bars")
    _add_verdict_flags(p)


def _add_network_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", metavar="P[,P...]", help="network profiles for `## Which method to pick`: "
                   "datacenter, lan, wan, edge, or BW,LATENCY such as 100mbit,30ms (default: all four named ones); "
                   "given explicitly, the report also finds the crossover bandwidths on the first")
    p.add_argument("--require", metavar="R[,R...]", help="what a recommended method must offer: data-stays-local "
                   "(no worker's records leave it), no-restart (a dead worker never restarts the group), no-server, "
                   "'epsilon<=X' (quoted; trained with differential privacy, every worker at most X); none for no "
                   "requirement (default: data-stays-local, which leaves standalone out)")


def _add_verdict_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reference", metavar="LABEL", help="the method every other is paired with, seed by seed, in "
                   "the verdicts (default: standalone)")
    p.add_argument("--target", type=float, metavar="VALUE", help="time to target: FID at most VALUE for images "
                   "(default: 2x the real-vs-real FID floor), high-quality share at least VALUE with every mode "
                   "captured for 2-D mixtures (default: 0.5)")
    p.add_argument("--margin", metavar="P%", help="the pick's time margin: a method is picked only if, with 95%% "
                   "confidence, it reaches the target at most 1 + P times later than the true best (default: 20%%, "
                   "or the projection's measured error if wider; see docs/compare.md)")
    p.add_argument("--quality-margin", metavar="P%", help="the pick's quality margin: a method is a candidate only "
                   "if its final FID is shown to be at most 1 + P times every other candidate's (default: 25%%)")
    p.add_argument("--equivalence-margin", metavar="M|P%", help="equivalence margin of the quality verdicts against "
                   "the reference: a pair whose "
                   "corrected interval lies inside ±M is called equivalent (default: 10%% of the reference's mean "
                   "final FID; 'no detectable difference' alone never means equal)")


def study_from_args(args: argparse.Namespace) -> Study:
    """The default study (or --preset) with the given flags on top."""
    from distgan.presets import default_study, preset

    study = preset(args.preset) if args.preset else default_study()
    if not args.preset:  # the default target and evaluation spacing are for digits at the default budget
        if args.dataset is not None and args.target is None:
            study.target = None
        if args.steps is not None and args.eval_every is None:
            study.eval_every = 0
    for name in ("dataset", "partition", "steps", "seeds", "first_seed", "backend", "batch_size", "eval_every", "out",
                 "progress", "reference", "target", "margin", "quality_margin", "equivalence_margin", "threads", "jobs",
                 "network", "require", "dp_epsilon", "until_decided", "time_budget",
                 "compress", "estimate"):
        if getattr(args, name) is not None:
            setattr(study, name, getattr(args, name))
    if args.workers is not None:
        study.workers = parse_workers(args.workers)
    if args.cells is not None:
        study.cells = [p.strip() for p in args.cells.split(",") if p.strip()]
        if not study.cells:
            raise DistganError(f"--cells {args.cells!r} names no cell; give globs of cell folder names such as "
                               "'md-gan*_w10_*', or drop --cells to run every cell")
    if args.jobs is not None and args.jobs < 1:
        raise DistganError(f"--jobs must be a positive integer (cells side by side), got {args.jobs}; leave it out "
                           "for one per core")
    if args.methods is not None:
        study.methods = parse_methods(args.methods, study.methods)
        study.overrides = {k: v for k, v in study.overrides.items() if k in study.methods}
    return study


def parse_workers(text: str) -> list[int]:
    """"4" or "1,2,4,8" as a list of positive integers."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise DistganError(f"--workers expects a positive integer or a comma list such as 1,2,4,8, got {text!r}")
    return [int(p) for p in parts]


def parse_methods(text: str, labels: list[str]) -> list[str]:
    """A comma list of methods, or of the preset's labels."""
    methods = [p.strip() for p in text.split(",")]
    for m in methods:
        if m not in REGISTRY and m not in labels:
            extra = f", or one of the preset's: {', '.join(labels)}" if set(labels) - set(REGISTRY) else ""
            raise DistganError(f"unknown method {m!r} in --methods; choose from: {', '.join(REGISTRY)}{extra}")
    return methods


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """defaults < --config TOML (or the resumed run's config.json) < flags."""
    values: dict[str, Any] = {}
    if args.resume:
        from pathlib import Path

        values = load_config_json(Path(args.resume) / run_folder.CONFIG).to_dict()
        values.update(out=args.resume, resume=True, is_resolved=False)  # flags may change it: check again
    given: set[str] = set()
    if args.config:
        settings = load_toml(args.config)
        values.update(settings)
        given.update(settings)
    from distgan.methods import option_owners

    for name in (FIELDS.keys() - HIDDEN) | option_owners().keys():
        flag_value = getattr(args, name, None)
        if flag_value is not None:
            values[name] = flag_value
            given.add(name)
    return config_from_mapping(values, "--config" if args.config else "flags").refuse_idle(given)


def _datasets() -> None:
    from distgan.data.registry import describe_datasets

    for row in describe_datasets():
        sys.stdout.write("  ".join(f"{k}={v}" for k, v in row.items()) + "\n")


def _methods() -> None:
    for spec in REGISTRY.values():
        sys.stdout.write(f"{spec.name}: {spec.summary}\n")
        for key, value in spec.traits().items():
            sys.stdout.write(f"    {key}: {value}\n")


def main(argv: list[str] | None = None) -> int:
    from distgan.logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging()
    if args.command == "train":  # a rank checkpoints at the next step and stops (distgan/stopping.py)
        request_on_signals() if "RANK" in os.environ else request_then_interrupt()
    elif "RANK" not in os.environ:
        stop_on_sigterm()
    try:
        if args.command == "datasets":
            _datasets()
        elif args.command == "methods":
            _methods()
        elif args.command == "train":
            from distgan.api import train

            summary = train(config_from_args(args))
            if summary:
                logging.getLogger("distgan").info("done: %s", _headline(summary))
        elif args.command == "compare":
            from distgan.api import compare

            if args.dry_run:
                _dry_run(study_from_args(args))
            else:
                logging.getLogger("distgan").info("report: %s", compare(study_from_args(args)))
        elif args.command == "report":
            from distgan.api import report

            logging.getLogger("distgan").info("report: %s", report(args.dir, args.reference, args.target,
                                                                   args.network, args.equivalence_margin, args.require,
                                                                   args.margin, args.quality_margin))
        elif args.command == "project":
            _project(args)
    except DistganError as e:
        sys.stderr.write(f"distgan: error: {e}\n")
        return 2
    except RunStopped:
        sys.stderr.write(f"distgan: stopped{_after_stop(args)}\n")
        return exit_code()
    except KeyboardInterrupt as e:
        stopped = "terminated" if isinstance(e, Terminated) else "interrupted"
        sys.stderr.write(f"distgan: {stopped}{_after_stop(args)}\n")
        return 143 if isinstance(e, Terminated) else 130
    return 0


def _dry_run(study: Study) -> None:
    """--dry-run: the plan and its estimated cost; nothing is trained."""
    from distgan.api import plan
    from distgan.estimate import describe

    planned = plan(study)
    sized, cost = planned["study"], planned["cost"]
    cells = planned["cells"]
    print(f"{len(cells)} cells: {', '.join(sized.methods)}; workers {','.join(map(str, sized.workers))}; "
          f"{sized.seeds} seeds from {sized.first_seed}; {sized.steps} updates each; {sized.dataset}, "
          f"--backend {sized.backend}; into {sized.out}")
    if cost is None:
        print("every cell has finished already: nothing to run (the report is rebuilt from them)")
    else:
        if cost.get("sized"):
            print(cost["sized"])
        print(describe(cost))
        for label, pilot in cost["per_label"].items():
            print(f"  {label}: {1000 * pilot['per_update']:.0f} ms an update, {pilot['per_eval']:.1f} s an "
                  f"evaluation, {pilot['fixed']:.1f} s to start and finish a run")
    print("dry run: nothing was trained; drop --dry-run to run the study")


def _after_stop(args: argparse.Namespace) -> str:
    """What to do after a stop: only `train` resumes; report and project have nothing to resume."""
    if args.command == "compare":
        return "; run the same command again; finished cells are kept"
    if args.command == "train":
        out = args.resume or args.out
        if out and (Path(out) / run_folder.CHECKPOINT).is_file():
            return f"; resume with --resume {out}"
        return "; no checkpoint was written, so there is nothing to resume: run the same command again"
    return ""


def _project(args: argparse.Namespace) -> None:
    import json

    from distgan.api import project
    from distgan.network.project import render

    result = project(args.path, args.network, args.compute)
    sys.stdout.write((json.dumps(result, indent=1) if args.json else render(result)) + "\n")


def _headline(summary: dict[str, Any]) -> str:
    parts = [f"{summary['method']} x{summary['workers']}", f"{summary['wall_s']:.0f}s"]
    for key in ("fid", "score", "modes_captured", "hq_pct"):
        if key in summary.get("final_eval", {}):
            parts.append(f"{key} {summary['final_eval'][key]:.3g}")
    return ", ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
