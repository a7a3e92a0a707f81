"""Generator updates and real images per second for every method at N workers, over the process transport.

    .venv/bin/python benchmarks/throughput.py                       # the short default: 30 steps, N = 1, 2, 4
    .venv/bin/python benchmarks/throughput.py --steps 300 --warmup 50 --workers 1,2,4,8

Each run goes through `distgan.api.train` unchanged. Its ranks are timed from outside src/: the benchmark puts
benchmarks/_hook on PYTHONPATH, whose sitecustomize.py installs benchmarks/steptimer.py in every rank the
launcher starts. The steady rate is taken between the metrics.jsonl records at --warmup and at --steps, so
process start-up, the final samples, evaluation and checkpoint are left out; the summary's own
g_updates_per_s (whole run) is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import common
import steptimer
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from distgan import api
from distgan.config import RunConfig
from distgan.methods import REGISTRY

log = logging.getLogger("benchmarks.throughput")
HOOK = Path(__file__).resolve().parent / "_hook"


def images_per_update(method: str, workers: int, batch: int, disc_steps: int) -> int:
    """Real images that one generator update (one step of the budget) consumes, from the method definitions."""
    if method in ("standalone", "async-ps"):
        return batch  # one worker's batch per update
    if method == "md-gan":
        return workers * batch * disc_steps  # every worker: L discriminator steps on b real images
    return workers * batch  # sync-dp: one batch on every worker; fl-gan: one local step on every worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pingpong(rank: int, port: int, numel: int, repeats: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    results = {}
    for label, n in (("small", 2), ("large", numel)):
        t = torch.zeros(n)
        for i in range(repeats + 2):
            if i == 2:
                start = time.perf_counter()
            if rank == 0:
                dist.send(t, 1)
                dist.recv(t, 1)
            else:
                dist.recv(t, 0)
                dist.send(t, 0)
        results[label] = (time.perf_counter() - start) / repeats / 2  # one one-way message
    if rank == 0:
        Path(out).write_text(json.dumps({"latency_s": results["small"],
                                         "s_per_byte": (results["large"] - results["small"]) / (numel * 4)}))
    dist.destroy_process_group()


def loopback_link(tmp: Path) -> dict[str, float]:
    """One-way latency and seconds per byte of a gloo message between two processes on this machine."""
    out = tmp / "pingpong.json"
    mp.spawn(_pingpong, args=(_free_port(), 1 << 20, 20, str(out)), nprocs=2)
    return json.loads(out.read_text())


def run_one(method: str, workers: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    out = root / f"{method}-n{workers}"
    shutil.rmtree(out, ignore_errors=True)
    timing = out / "timing"
    takes_local_steps = any(f.name == "local_steps" for f in REGISTRY[method].option_fields())
    own = {"local_steps": args.local_steps} if takes_local_steps else {}
    config = RunConfig.of(method=method, workers=workers, dataset=args.dataset, backend="process", steps=args.steps,
                          batch_size=args.batch, eval_samples=args.eval_samples, checkpoint_every=args.steps,
                          sample_every=args.steps, log_every=args.warmup, progress=False, out=str(out),
                          seed=args.seed, **own)
    os.environ[steptimer.ENV] = str(timing)
    steptimer.reset()
    start = time.perf_counter()
    summary = api.train(config)
    elapsed = time.perf_counter() - start
    ranks = {}
    if config.world_size == 1:  # standalone runs in this process
        ranks["0"] = steptimer.snapshot()
    else:
        for r in range(config.world_size):
            path = timing / f"timing_rank{r}.json"
            if path.is_file():
                ranks[str(r)] = json.loads(path.read_text())
    steady = common.steady_rate(out, args.warmup, args.steps)
    per_update = images_per_update(method, workers, args.batch, getattr(config.method_options(), 'disc_steps', 1))
    threads = max(1, (os.cpu_count() or 1) // config.world_size) if config.world_size > 1 else torch.get_num_threads()
    result = {"method": method, "workers": workers, "processes": config.world_size, "threads_per_process": threads,
              "wall_s": summary["wall_s"], "g_updates_per_s": summary["g_updates_per_s"],
              "steady_g_updates_per_s": steady, "images_per_update": per_update,
              "steady_images_per_s": steady * per_update if steady else None,
              "command_wall_s": round(elapsed, 2), "bytes_per_rank": summary["bytes"]["per_rank"], "timing": ranks}
    log.info("%s N=%d: %.2f steady g-updates/s (%.2f over the whole run), %s img/s", method, workers,
             steady or 0.0, summary["g_updates_per_s"], result["steady_images_per_s"])
    return result


def split(result: dict[str, Any], steps: int, link: dict[str, float]) -> list[dict[str, Any]]:
    """Per role (rank 0, and the mean over the other ranks): ms per step of compute, transport and its parts."""
    rows = []
    ranks = result["timing"]
    roles = [("rank 0", ["0"]), ("other ranks (mean)", [r for r in ranks if r != "0"])]
    for role, members in roles:
        if not members:
            continue
        totals: dict[str, float] = {}
        for r in members:
            seconds, calls = ranks[r]["seconds"], ranks[r]["calls"]
            moved = sum(sum(result["bytes_per_rank"].get(r, {}).get(d, {}).values()) for d in ("sent", "recv"))
            wire = calls.get("transport", 0) * link["latency_s"] + moved * link["s_per_byte"]
            if result["processes"] == 1:  # one rank (in-process): nothing goes over a wire
                wire = 0.0
            for key, value in (("compute", seconds.get("compute", 0.0)), ("transport", seconds.get("transport", 0.0)),
                               ("wire_est", min(wire, seconds.get("transport", 0.0))),
                               ("record", seconds.get("record", 0.0) + seconds.get("checkpoint", 0.0))):
                totals[key] = totals.get(key, 0.0) + value / len(members)
        ms = {k: 1000 * v / steps for k, v in totals.items()}
        rows.append({"method": result["method"], "workers": result["workers"], "role": role, **ms,
                     "wait_est": ms["transport"] - ms["wire_est"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="generator updates per run")
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of the steady rate (also log_every)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated N")
    parser.add_argument("--methods", default=",".join(REGISTRY), help="comma-separated, from: %(default)s")
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--local-steps", type=int, default=10, help="local steps per round (fl-gan, fe-gan)")
    parser.add_argument("--eval-samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="runs/bench/throughput", help="where the run folders go")
    parser.add_argument("--render-only", action="store_true",
                        help="rebuild the split and throughput.md from results/throughput.json without running")
    args = parser.parse_args()
    common.setup_logging()
    if args.render_only:
        return render_only()
    unknown = [m for m in args.methods.split(",") if m not in REGISTRY]
    if unknown:
        parser.error(f"unknown --methods {','.join(unknown)}; choose from {','.join(REGISTRY)}")
    if args.steps % args.warmup:
        parser.error("--steps must be a multiple of --warmup, so that both have a metrics record")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HOOK), *filter(None, [os.environ.get("PYTHONPATH")])])
    root = Path(args.runs)
    root.mkdir(parents=True, exist_ok=True)
    info = common.machine()
    link = loopback_link(root)
    log.info("gloo loopback: %.0f us latency, %.2f GB/s", link["latency_s"] * 1e6, 1e-9 / link["s_per_byte"])
    steptimer.install()
    worker_counts = [int(n) for n in args.workers.split(",")]
    results, splits = [], []
    for method in args.methods.split(","):
        for n in [1] if method == "standalone" else worker_counts:
            result = run_one(method, n, args, root)
            results.append(result)
            splits += split(result, args.steps, link)
    common.write_results("throughput", {"machine": info, "args": vars(args), "loopback_link": link,
                                        "runs": results, "split_ms_per_step": splits}, to_markdown(results, splits))


def render_only() -> None:
    """Recompute the split from the measured timings and bytes already in results/throughput.json."""
    data = json.loads((common.RESULTS / "throughput.json").read_text())
    steps = data["args"]["steps"]
    data["split_ms_per_step"] = [row for r in data["runs"] for row in split(r, steps, data["loopback_link"])]
    common.write_results("throughput", data, to_markdown(data["runs"], data["split_ms_per_step"]))


def to_markdown(results: list[dict[str, Any]], splits: list[dict[str, Any]]) -> str:
    rows = [[r["method"], r["workers"], r["processes"], r["threads_per_process"], r["steady_g_updates_per_s"],
             r["g_updates_per_s"], r["wall_s"], r["images_per_update"], r["steady_images_per_s"]] for r in results]
    text = common.markdown_table(["method", "N", "processes", "threads each", "G updates/s (steady)",
                                  "G updates/s (summary, whole run)", "wall_s", "real images / update",
                                  "real images/s (steady)"], rows)
    rows = [[s["method"], s["workers"], s["role"], s["compute"], s["transport"], s["wire_est"], s["wait_est"],
             s["record"]] for s in splits]
    text += "\nms per generator update, averaged over the whole run (process transport):\n\n"
    text += common.markdown_table(["method", "N", "role", "compute", "in transport", "of which wire (est.)",
                                   "of which waiting (est.)", "samples+eval+checkpoint"], rows)
    return text


if __name__ == "__main__":
    main()
