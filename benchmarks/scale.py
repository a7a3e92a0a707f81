"""Simulated md-gan, fl-gan and fe-gan at up to 1,000 workers: time per iteration and peak memory against N.

    .venv/bin/python benchmarks/scale.py
    .venv/bin/python benchmarks/scale.py --workers 1,2,4,8,16,32,64,128,256,500,1000 --steps 8

md-gan runs without swaps (--swap-every 1e9), so every iteration is the same work at every N; fl-gan
and fe-gan select a fraction `--client-fraction` of the workers per round, one local step each, with
clients that keep their Adam moments between rounds (the default) or start each round fresh
(`fl-gan:fresh`). One worker's
compute is also timed alone, right after each run in its process, with one thread (md-gan: L D steps and
the feedback on b images; fl-gan: one local step, D then G, on models built once), so that the fitted cost
per worker splits into compute and the framework's own overhead (messages, loading w, Adam's moments).

Every (method, N) runs in a fresh Python process, so `peak_rss_mb["0"]` (in the simulation, the whole process:
all N+1 ranks are greenlets of its one thread) belongs to that configuration alone. Runs skip evaluation (no
evaluator), so the memory and time are the method's. Time per iteration is the median of the iterations
between the metrics.jsonl records at step 1 and at the step before the last, leaving out the first iteration
(warm-up) and the last (every rank writes its checkpoint there, which a real run does once per
--checkpoint-every); the median, because a burst of the VM's neighbours lands on one iteration (the mean is
kept as s_per_iteration_mean). A worker's compute in the run is likewise the median over its trace records.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common

log = logging.getLogger("benchmarks.scale")


def one(method: str, workers: int, args: argparse.Namespace) -> None:
    """In the child process: one simulated run; print its numbers as one JSON line."""
    from distgan.config import RunConfig
    from distgan.data.registry import load_dataset
    from distgan.launch import run_simulated

    out = Path(args.runs) / f"{method.replace(':', '-')}-n{workers}"
    name, _, client_optimizer = method.partition(":")
    own = ({"local_steps": 1, "client_fraction": args.client_fraction,
            "client_optimizer": client_optimizer or "keep"} if name in ("fl-gan", "fe-gan") else {"swap_every": 1e9})
    config = RunConfig.of(method=name, workers=workers, backend="sim", dataset=args.dataset, steps=args.steps,
                          batch_size=args.batch, log_every=1, sample_every=args.steps, checkpoint_every=args.steps,
                          progress=False, tensorboard=False, out=str(out), seed=args.seed, g_depth=args.g_depth,
                          **own).validate()
    dataset = load_dataset(config.dataset)
    kind = "md-gan" if name == "md-gan" else ("fl-gan:fresh" if client_optimizer == "fresh" else "fl-gan")
    before = worker_compute_s(kind, args)  # timed before and after the run, in its process: load drifts
    start = time.perf_counter()
    run_simulated(config.resolved(dataset), dataset, None)
    elapsed = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text())
    walls = common.read_train_walls(out)
    last = args.steps - 1  # the last iteration also writes every rank's checkpoint: left out
    iterations = [walls[i + 1] - walls[i] for i in range(1, last)]
    after = worker_compute_s(kind, args)
    in_run = worker_compute_in_run_s(out, first=2, last=last)
    print(json.dumps({"method": method, "workers": workers,
                      "s_per_iteration": statistics.median(iterations),
                      "s_per_iteration_mean": statistics.mean(iterations),
                      "worker_alone_s": statistics.median_high(before + after),
                      "worker_alone_before_after_s": [statistics.median(before), statistics.median(after)],
                      "worker_in_run_s": statistics.median(in_run), "worker_in_run_mean_s": statistics.mean(in_run),
                      "wall_s": summary["wall_s"], "run_s": elapsed,
                      "iteration_s": [round(t, 3) for t in iterations],
                      "peak_rss_mb": summary["peak_rss_mb"]["0"],
                      "bytes_total_sent": summary["bytes"]["total_sent"]}))


def worker_compute_s(method: str, args: argparse.Namespace, repeats: int = 30, pool: int = 32) -> list[float]:
    """One worker's compute per iteration, timed alone, one thread: `repeats` timings.

    md-gan: L = 1 D step and the feedback on b images, cycling over `pool` distinct discriminators with
    their own Adam state, since in a run each of N workers steps its own D, which is no longer in the
    cache when its turn comes. fl-gan: one local step (D then G) of a client, on the one pair of models
    a run's clients borrow in turn; `fl-gan:fresh` clears Adam's state before each step, as each round of a
    client with `--client-optimizer fresh` starts (Adam builds its moments in that step). Batches are
    gathered from random training indices, as a worker does.
    """
    import torch

    from distgan.data.registry import load_dataset
    from distgan.models import build_models, default_z_dim
    from distgan.models.losses import get_losses

    torch.set_num_threads(1)
    dataset = load_dataset(args.dataset)
    shape, b = dataset.sample_shape, args.batch
    z_dim = default_z_dim(shape)
    d_loss, g_loss = get_losses("bce")
    data = dataset.train_x
    rng = torch.Generator().manual_seed(0)
    discriminators = []
    for _ in range(pool if method == "md-gan" else 0):
        _, D_n = build_models(shape, z_dim, with_G=False)
        discriminators.append((D_n, torch.optim.Adam(D_n.parameters(), 2e-4, betas=(0.5, 0.999))))
    G, D_c = build_models(shape, z_dim, g_depth=args.g_depth)  # a federated client's borrowed pair
    opt_G = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D_c.parameters(), 2e-4, betas=(0.5, 0.999))
    times = []
    for i in range(repeats + pool):  # the first pass over the pool builds Adam's state: left out
        start = time.perf_counter()
        real = data[torch.randint(len(data), (b,), generator=rng)]
        if method == "md-gan":  # L = 1 D step on X_d, then the feedback F_n on X_g
            D, opt = discriminators[i % pool]
            X_d, X_g = torch.randn(b, *shape), torch.randn(b, *shape).requires_grad_(True)
            loss = d_loss(D(real), D(X_d))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            torch.autograd.grad(g_loss(D(X_g)), X_g)
        else:
            if method == "fl-gan:fresh":
                opt_G.state.clear()
                opt_D.state.clear()
            fake = G(torch.randn(b, z_dim))
            loss = d_loss(D_c(real), D_c(fake.detach()))
            opt_D.zero_grad(set_to_none=True)
            loss.backward()
            opt_D.step()
            loss = g_loss(D_c(fake))
            opt_G.zero_grad(set_to_none=True)
            loss.backward()
            opt_G.step()
        if i >= pool:
            times.append(time.perf_counter() - start)
    return times


def worker_compute_in_run_s(run_dir: Path, first: int, last: int) -> list[float]:
    """A worker's compute per iteration inside the run, from its trace: the named compute phases of each
    worker record of steps first..last (the timed iterations) that computed. What is left of the time per
    worker, beyond this, is messages, turns and the server's share; beyond the compute alone, also the compute
    slowed by the run around it (caches, memory)."""
    from distgan import run_folder
    from distgan.transport.trace import OTHER, compute_seconds, read_trace

    seconds = [compute_seconds(record, OTHER) for record in read_trace(run_dir / run_folder.TRACE)
               if record["rank"] != 0 and first <= record["step"] <= last]
    return [s for s in seconds if s > 0] or [float("nan")]


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares y = a + b x."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return my - slope * mx, slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4,8,16,32,64,128,256,500,1000")
    parser.add_argument("--methods", default="md-gan,fl-gan,fe-gan,fl-gan:fresh,fe-gan:fresh",
                        help="METHOD or METHOD:fresh (fl-gan, fe-gan with --client-optimizer fresh)")
    parser.add_argument("--client-fraction", type=float, default=0.02, help="fl-gan and fe-gan: C")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--g-depth", type=int, default=0, help="extra conv blocks in G (the tables: 0)")
    parser.add_argument("--runs", default="runs/bench/scale")
    parser.add_argument("--rebuild", action="store_true", help="refit and rewrite results/scale.* from scale.json")
    parser.add_argument("--pool", nargs="*", default=[], metavar="JSON",
                        help="with --rebuild: earlier tables (scale.json files) to fit together with this one")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 3:
        parser.error("--steps must be >= 3: the first and the last iteration are left out of the time per iteration")
    if args.one:
        one(args.one[0], int(args.one[1]), args)
        return
    if args.rebuild:
        rebuild(args.pool)
        return
    common.setup_logging()
    info = common.machine()
    results = []
    for method in args.methods.split(","):
        for n in (int(v) for v in args.workers.split(",")):
            cmd = [sys.executable, __file__, "--one", method, str(n), "--steps", str(args.steps), "--batch",
                   str(args.batch), "--dataset", args.dataset, "--seed", str(args.seed), "--runs", args.runs,
                   "--client-fraction", str(args.client_fraction), "--g-depth", str(args.g_depth)]
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
            if done.returncode:
                raise SystemExit(f"{method} N={n} failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            result["process_s"] = time.perf_counter() - start
            results.append(result)
            log.info("%s N=%d: %.3f s/iteration, peak RSS %.0f MB", method, n, result["s_per_iteration"],
                     result["peak_rss_mb"])
    data = {"machine": info, "args": vars(args), "runs": results,
            "linear_fits_a_plus_b_N": fit_methods(results, args.client_fraction),
            "load_avg_at_end": list(os.getloadavg())}
    common.write_results("scale", data, to_markdown(results, data["linear_fits_a_plus_b_N"]))


def rebuild(pool: list[str]) -> None:
    """Refit and rewrite results/scale.* from the runs already in scale.json, and, with `pool`, fit this table's
    rows together with those of earlier tables: one table's slope moves by +-15% with the VM's drift."""
    data = json.loads((common.RESULTS / "scale.json").read_text())
    fraction = data["args"]["client_fraction"]
    data["linear_fits_a_plus_b_N"] = fit_methods(data["runs"], fraction)
    text = to_markdown(data["runs"], data["linear_fits_a_plus_b_N"])
    if pool:
        runs = data["runs"] + [r for path in pool for r in json.loads(Path(path).read_text())["runs"]]
        data["pooled_with"] = pool
        data["pooled_fits"] = fit_methods(runs, fraction)
        text += (f"\nThe same fits over the rows of this table and of {', '.join(Path(p).name for p in pool)} "
                 f"together ({len(runs)} rows):\n\n" + fits_table(data["pooled_fits"]))
    common.write_results("scale", data, text)


def fit_methods(results: list[dict[str, Any]], fraction: float) -> dict[str, Any]:
    """Per method, least-squares lines of time against the workers that compute (all N for md-gan, the C N
    selected otherwise) and of memory against N. `per_worker_in_units_of_alone` fits each row's time in units
    of that row's own compute alone, timed in the same process: the machine's speed drifts between rows
    (docs/benchmarks.md section 4), and this ratio does not."""
    fits = {}
    for method in dict.fromkeys(r["method"] for r in results):
        rows = [r for r in results if r["method"] == method]
        xs = [float(busy_workers(method, r["workers"], fraction)) for r in rows]
        fits[method] = {"s_per_iteration": fit_line(xs, [r["s_per_iteration"] for r in rows]),
                        "per_worker_in_units_of_alone": fit_line(
                            xs, [r["s_per_iteration"] / r["worker_alone_s"] for r in rows])[1],
                        "per_worker_in_units_of_in_run_compute": fit_line(
                            xs, [r["s_per_iteration"] / r["worker_in_run_s"] for r in rows])[1],
                        "peak_rss_mb": fit_line([float(r["workers"]) for r in rows], [r["peak_rss_mb"] for r in rows]),
                        "worker_compute_alone_s": statistics.mean(r["worker_alone_s"] for r in rows),
                        "worker_compute_in_run_s": statistics.mean(r["worker_in_run_s"] for r in rows)}
    return fits


def busy_workers(method: str, workers: int, fraction: float) -> int:
    """Workers that compute in one iteration: every one in md-gan, the selected ones in a federated round."""
    return workers if method == "md-gan" else max(1, round(fraction * workers))


def to_markdown(results: list[dict[str, Any]], fits: dict[str, Any]) -> str:
    rows = [[r["method"], r["workers"], r["s_per_iteration"] * 1000, r["s_per_iteration"] * 1000 / r["workers"],
             r["worker_alone_s"] * 1000, r["worker_in_run_s"] * 1000, r["peak_rss_mb"], r["run_s"]] for r in results]
    text = common.markdown_table(["method", "N", "ms / iteration", "ms / iteration / worker",
                                  "one worker alone (ms)", "a worker's compute in the run (ms)", "peak RSS (MB)",
                                  "run_simulated s"], rows)
    text += "\nLeast-squares lines: time against the workers that compute per iteration (n = N for md-gan, " \
            "round(C N) for fl-gan and fe-gan), memory against N:\n\n"
    return text + fits_table(fits)


def fits_table(fits: dict[str, Any]) -> str:
    rows = []
    for m, f in fits.items():
        slope, alone, in_run = f["s_per_iteration"][1], f["worker_compute_alone_s"], f["worker_compute_in_run_s"]
        rows.append([m, f"{f['s_per_iteration'][0] * 1000:.0f} + {slope * 1000:.1f} n", f"{alone * 1000:.1f}",
                     f"{(slope - alone) * 1000:+.1f} ({(slope / alone - 1) * 100:+.0f}%)", f"{in_run * 1000:.1f}",
                     f"{(slope - in_run) * 1000:+.1f} ({(slope / in_run - 1) * 100:+.0f}%)",
                     f"{f['per_worker_in_units_of_alone']:.3f} ({(f['per_worker_in_units_of_alone'] - 1) * 100:+.0f}%)",
                     f"{f['per_worker_in_units_of_in_run_compute']:.3f}",
                     f"{f['peak_rss_mb'][0]:.0f} + {f['peak_rss_mb'][1]:.2f} N"])
    return common.markdown_table(["method", "ms / iteration", "one worker's compute alone (ms)",
                                  "overhead per worker (ms)", "a worker's compute in the run (ms)",
                                  "beyond that compute (ms)", "per worker, in units of its row's compute alone",
                                  "in units of its row's compute in the run", "peak RSS (MB)"], rows)


if __name__ == "__main__":
    main()
