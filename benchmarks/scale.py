"""Simulated md-gan and fl-gan at many workers: time per iteration and peak memory against N.

    .venv/bin/python benchmarks/scale.py
    .venv/bin/python benchmarks/scale.py --workers 1,2,4,8,16,32,64,128,256 --steps 5

Every (method, N) runs in a fresh Python process, so `peak_rss_mb["0"]` (in the simulation, the whole process:
all N+1 ranks are its threads) belongs to that configuration alone. Runs skip evaluation (no evaluator), so the
memory and time are the method's. Time per iteration is taken between the metrics.jsonl records at step 1 and
at the last step, leaving out the first iteration.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
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

    out = Path(args.runs) / f"{method}-n{workers}"
    own = {"local_steps": 1} if method in ("fl-gan", "fe-gan") else {}
    config = RunConfig.of(method=method, workers=workers, backend="sim", dataset=args.dataset, steps=args.steps,
                          batch_size=args.batch, log_every=1, sample_every=args.steps, checkpoint_every=args.steps,
                          progress=False, out=str(out), seed=args.seed, **own).validate()
    dataset = load_dataset(config.dataset)
    start = time.perf_counter()
    run_simulated(config.resolved(dataset.kind), dataset, None)
    elapsed = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text())
    walls = common.read_train_walls(out)
    per_iter = (walls[args.steps] - walls[1]) / (args.steps - 1)
    print(json.dumps({"method": method, "workers": workers, "s_per_iteration": per_iter,
                      "wall_s": summary["wall_s"], "run_s": elapsed, "peak_rss_mb": summary["peak_rss_mb"]["0"],
                      "bytes_total_sent": summary["bytes"]["total_sent"]}))


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares y = a + b x."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return my - slope * mx, slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4,8,16,32,64")
    parser.add_argument("--methods", default="md-gan,fl-gan")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="runs/bench/scale")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be >= 2: the first iteration is left out of the time per iteration")
    if args.one:
        one(args.one[0], int(args.one[1]), args)
        return
    common.setup_logging()
    info = common.machine()
    results = []
    for method in args.methods.split(","):
        for n in (int(v) for v in args.workers.split(",")):
            cmd = [sys.executable, __file__, "--one", method, str(n), "--steps", str(args.steps), "--batch",
                   str(args.batch), "--dataset", args.dataset, "--seed", str(args.seed), "--runs", args.runs]
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
            if done.returncode:
                raise SystemExit(f"{method} N={n} failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            result["process_s"] = time.perf_counter() - start
            results.append(result)
            log.info("%s N=%d: %.3f s/iteration, peak RSS %.0f MB", method, n, result["s_per_iteration"],
                     result["peak_rss_mb"])
    fits = {}
    for method in args.methods.split(","):
        rows = [r for r in results if r["method"] == method]
        xs = [float(r["workers"]) for r in rows]
        fits[method] = {"s_per_iteration": fit_line(xs, [r["s_per_iteration"] for r in rows]),
                        "peak_rss_mb": fit_line(xs, [r["peak_rss_mb"] for r in rows])}
    data = {"machine": info, "args": vars(args), "runs": results, "linear_fits_a_plus_b_N": fits,
            "load_avg_at_end": list(os.getloadavg())}
    common.write_results("scale", data, to_markdown(results, fits))


def to_markdown(results: list[dict[str, Any]], fits: dict[str, Any]) -> str:
    rows = [[r["method"], r["workers"], r["s_per_iteration"] * 1000, r["s_per_iteration"] * 1000 / r["workers"],
             r["peak_rss_mb"], r["run_s"]] for r in results]
    text = common.markdown_table(["method", "N", "ms / iteration", "ms / iteration / worker", "peak RSS (MB)",
                                  "run_simulated s"], rows)
    text += "\nLeast-squares lines over N:\n\n"
    rows = [[m, f"{f['s_per_iteration'][0] * 1000:.0f} + {f['s_per_iteration'][1] * 1000:.1f} N",
             f"{f['peak_rss_mb'][0]:.0f} + {f['peak_rss_mb'][1]:.1f} N"] for m, f in fits.items()]
    return text + common.markdown_table(["method", "ms / iteration", "peak RSS (MB)"], rows)


if __name__ == "__main__":
    main()
