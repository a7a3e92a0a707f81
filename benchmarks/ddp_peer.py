"""distgan's sync-dp against a plain PyTorch DDP GAN loop: steady-state steps per second, and their ratio.

    .venv/bin/python benchmarks/ddp_peer.py                          # 2 processes, 110 steps, 2 rounds each
    .venv/bin/python benchmarks/ddp_peer.py --steps 510 --warmup 10 --repeats 3

The plain loop is written the way pytorch/examples' dcgan trains (D step on real + fake, then G step through D),
with G and D wrapped in DistributedDataParallel (broadcast_buffers=False: G has BatchNorm and distgan keeps each
replica's running statistics local too). Both sides use the same models (`build_models((1, 28, 28))`), mnist5k,
batch 64 per process, Adam(2e-4, (0.5, 0.999)), non-saturating BCE, 2 processes, gloo, one thread each.
Steps/s is measured from step --warmup to the end, so start-up and the final evaluation are left out.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import common
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from distgan import api
from distgan.config import RunConfig
from distgan.data.registry import load_dataset
from distgan.models import build_models, count_parameters, default_z_dim

log = logging.getLogger("benchmarks.ddp_peer")
SHAPE = (1, 28, 28)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plain_worker(rank: int, world: int, port: int, args: argparse.Namespace, out: str) -> None:
    """One rank of the plain DDP loop; rank 0 writes its timings to `out`."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    data = load_dataset(args.dataset).train_x
    shard = data[torch.randperm(len(data), generator=torch.Generator().manual_seed(args.seed)).chunk(world)[rank]]
    torch.manual_seed(args.seed)  # DDP broadcasts rank 0's weights anyway
    netG, netD = build_models(SHAPE)
    warnings.filterwarnings("ignore", message=".*broadcast_buffers.*", category=FutureWarning)
    netG = DDP(netG, broadcast_buffers=False)
    netD = DDP(netD, broadcast_buffers=False)
    optG = torch.optim.Adam(netG.parameters(), 2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(netD.parameters(), 2e-4, betas=(0.5, 0.999))
    z_dim, b = default_z_dim(SHAPE), args.batch
    real_label, fake_label = torch.ones(b), torch.zeros(b)
    batches = torch.Generator().manual_seed(args.seed + rank)
    order, position = torch.randperm(len(shard), generator=batches), 0
    marks = {}
    for step in range(args.steps):
        if step == args.warmup:
            marks["warm"] = time.perf_counter()
        if position + b > len(order):
            order, position = torch.randperm(len(shard), generator=batches), 0
        real = shard[order[position: position + b]]
        position += b
        fake = netG(torch.randn(b, z_dim))
        # (1) update D: maximize log D(x) + log(1 - D(G(z)))
        netD.zero_grad(set_to_none=True)
        errD = F.binary_cross_entropy_with_logits(netD(real), real_label) + \
            F.binary_cross_entropy_with_logits(netD(fake.detach()), fake_label)
        errD.backward()
        optD.step()
        # (2) update G: maximize log D(G(z))
        netG.zero_grad(set_to_none=True)
        errG = F.binary_cross_entropy_with_logits(netD(fake), real_label)
        errG.backward()
        optG.step()
        marks["losses"] = (errD.item(), errG.item())  # the dcgan example reads both every step
    marks["end"] = time.perf_counter()
    if rank == 0:
        Path(out).write_text(json.dumps({"steady_steps_per_s": (args.steps - args.warmup) /
                                         (marks["end"] - marks["warm"])}))
    dist.destroy_process_group()


def run_plain(args: argparse.Namespace, tmp: Path) -> float:
    out = tmp / "plain.json"
    os.environ["OMP_NUM_THREADS"] = "1"
    mp.spawn(plain_worker, args=(2, _free_port(), args, str(out)), nprocs=2)
    return json.loads(out.read_text())["steady_steps_per_s"]


def run_ours(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out = tmp / "ours"
    shutil.rmtree(out, ignore_errors=True)
    summary = api.train(RunConfig.of(method="sync-dp", workers=2, backend="process", dataset=args.dataset,
                                  steps=args.steps, batch_size=args.batch, log_every=args.warmup,
                                  sample_every=args.steps, checkpoint_every=args.steps,
                                  eval_samples=args.eval_samples, progress=False, threads=1, seed=args.seed,
                                  out=str(out)))
    return {"steady_steps_per_s": common.steady_rate(out, args.warmup, args.steps),
            "summary_g_updates_per_s": summary["g_updates_per_s"], "wall_s": summary["wall_s"]}


def overheads(args: argparse.Namespace, repeats: int = 200) -> dict[str, float]:
    """Per-step costs (ms) that sync-dp pays and DDP does not, timed in one process on one thread."""
    from distgan.methods.common import flatten, grads, set_grads

    torch.set_num_threads(1)
    G, D = build_models(SHAPE)
    for m in (G, D):
        for p in m.parameters():
            p.grad = torch.randn_like(p)
    loss = torch.tensor(1.0, requires_grad=True) * 2
    result = {}
    for label, fn in (("flatten+set_grads G and D", lambda: [set_grads(m, flatten(grads(m))) for m in (G, D)]),
                      ("two .item() calls", lambda: (loss.item(), loss.item()))):
        fn()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        result[label] = 1000 * (time.perf_counter() - start) / repeats
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=110)
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of the timing (also log_every)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each, alternated")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--eval-samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="runs/bench/ddp_peer")
    args = parser.parse_args()
    common.setup_logging()
    if args.steps % args.warmup:
        parser.error("--steps must be a multiple of --warmup, so that both have a metrics record")
    tmp = Path(args.runs)
    tmp.mkdir(parents=True, exist_ok=True)
    info = common.machine()
    plain, ours = [], []
    for i in range(args.repeats):
        plain.append(run_plain(args, tmp))
        log.info("round %d: plain DDP %.2f steps/s", i + 1, plain[-1])
        ours.append(run_ours(args, tmp))
        log.info("round %d: distgan sync-dp %.2f steps/s", i + 1, ours[-1]["steady_steps_per_s"])
    ours_rates = [o["steady_steps_per_s"] for o in ours]
    ratio = statistics.median(ours_rates) / statistics.median(plain)
    G, D = build_models(SHAPE)
    costs = overheads(args)
    data = {"machine": info, "args": vars(args), "plain_steps_per_s": plain, "ours": ours, "ratio_of_medians": ratio,
            "ratios_per_round": [o / p for o, p in zip(ours_rates, plain)], "params": {"G": count_parameters(G),
            "D": count_parameters(D)}, "overheads_ms_per_step": costs, "load_avg_at_end": list(os.getloadavg())}
    rows = [[i + 1, p, o, o / p] for i, (p, o) in enumerate(zip(plain, ours_rates))]
    rows.append(["median", statistics.median(plain), statistics.median(ours_rates), ratio])
    text = common.markdown_table(["round", "plain DDP steps/s", "distgan sync-dp steps/s", "ours / plain"], rows)
    text += "\nPer-step costs only sync-dp pays, timed alone on one thread:\n\n"
    text += common.markdown_table(["what", "ms per step"], [[k, v] for k, v in costs.items()])
    log.info("ours / plain = %.3f", ratio)
    common.write_results("ddp_peer", data, text)


if __name__ == "__main__":
    main()
