"""Every distributed method of the default study on real shaped links: the measured time against the projections
of a loopback run and of a simulated run of the same config.

    sudo .venv/bin/python benchmarks/shaped_link_check.py                 # 5 methods, 10 and 100 Mbit/s: ~15 min
    sudo .venv/bin/python benchmarks/shaped_link_check.py --reanalyse     # recompute the rows, running nothing
    sudo .venv/bin/python benchmarks/shaped_link_check.py --methods gossip-gan --rates 10 --steps 40 --name try

The default study's methods at its settings (digits, N = 2, b = 64, seed 0, one torch thread per rank; fl-gan
20 local steps a round, gossip-gan an exchange every 10 steps), for --steps updates with no evaluation on the
way. standalone is left out: it has no link. For each method:
1. a loopback run (the process transport on this machine, launched by distgan), calibrated as `distgan project`
   calibrates it, and a simulated run (--backend sim);
2. at each rate, the same config with each rank in its own network namespace behind a tbf-shaped veth
   (netns_check.py's machinery: ranks started as torchrun starts them, gloo over TCP between the namespaces;
   a 3 KB bucket, as crossover_check.py's);
3. measured is rank 0's window from the end of its first step (round) to the end of its last, less its
   evaluations; each run is projected on RATE,0ms with the repository's projector (compute 'auto': the
   calibration for the loopback run, the trace for the simulated one), over the same window. The shaped run's
   own trace, with its own traced compute, is projected too: it separates the link model's error from compute.

The machine must be otherwise idle: it waits while /tmp/busy exists or a `distgan compare` runs, and holds
/tmp/busy itself while it measures. Each process it starts is capped at --max-gb of address space. Needs root
and `ip netns`; without them it says why and exits 0. Every namespace it makes is deleted, even on failure or
SIGTERM. Not a test; CI does not run it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common
import crossover_check as cc
import netns_check as nc

log = logging.getLogger("benchmarks.shaped_link_check")
ROOT = Path(__file__).resolve().parent.parent
METHODS = "sync-dp,async-ps,fl-gan,md-gan,gossip-gan"  # the default study's, standalone left out: no link
BUSY = Path("/tmp/busy")
LIMIT = 15.0  # per cent: what each projection must be within


def others_busy(max_load: float) -> str | None:
    """Why the machine is not ours to time on: someone's /tmp/busy, a `distgan compare` running, or load."""
    if BUSY.exists() and BUSY.read_text().strip() != str(os.getpid()):
        return "/tmp/busy exists"
    if os.getloadavg()[0] > max_load:
        return f"load average {os.getloadavg()[0]:.2f} > {max_load:g}"
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(w.endswith(b"distgan") for w in words) and b"compare" in words:
            return f"a distgan compare runs (pid {cmdline.parent.name})"
    return None


def wait_for_quiet(max_load: float) -> None:
    """Until the machine has been quiet at three looks 15 s apart (a queue of studies may pause for seconds)."""
    quiet = 0
    while quiet < 3:
        why = others_busy(max_load)
        quiet = 0 if why else quiet + 1
        if why:
            log.info("%s: waiting", why)
        time.sleep(15)


def train_here(method: str, args: argparse.Namespace, out: Path, backend: str) -> float:
    """One run on this machine (loopback processes, or simulated); wall seconds of the command."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "distgan", "train", "--method", method, "--workers", str(args.workers),
           "--dataset", args.dataset, "--steps", str(args.steps), "--out", str(out), "--threads", "1",
           "--backend", backend, "--no-progress", "--no-tensorboard", "--master-port",
           str(29300 + os.getpid() % 90), *cc.train_flags(args, method)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True,
                   timeout=args.timeout)
    return time.perf_counter() - start


def local_runs(args: argparse.Namespace, runs: Path) -> dict[str, Any]:
    """The loopback (calibrated) and simulated run of every method."""
    from distgan.network.calibrate import calibrate

    out = {}
    for method in args.methods.split(","):
        loop, sim = runs / f"loopback-{method}", runs / f"sim-{method}"
        seconds = {"loopback_s": round(train_here(method, args, loop, "process"), 1)}
        started = time.perf_counter()
        calibrate(loop, refresh=True)
        seconds["calibrate_s"] = round(time.perf_counter() - started, 1)
        seconds["sim_s"] = round(train_here(method, args, sim, "sim"), 1)
        log.info("%s: %s", method, json.dumps(seconds))
        out[method] = seconds
    return out


def analyse(run: Path, runs: Path, method: str, mbit: float) -> dict[str, Any]:
    """Measured window of a shaped run against the loopback run's, the simulated run's and its own projection."""
    from distgan.network.project import projector

    measured = nc.measured_training_s(run)
    on = {"loopback": projector(runs / f"loopback-{method}")[0], "sim": projector(runs / f"sim-{method}")[0],
          "own_trace": projector(run, compute="trace")[0]}
    row: dict[str, Any] = {"method": method, "mbit": mbit, "measured_s": round(measured, 2)}
    for name, project in on.items():
        projected = cc.window(project(cc.profile(mbit)))
        row[f"{name}_s"] = round(projected, 2)
        row[f"{name}_error_pct"] = round(100 * (projected - measured) / measured, 1)
    return row


def measure(args: argparse.Namespace, runs: Path) -> list[dict[str, Any]]:
    rows = []
    nets = nc.Namespaces(args.workers + 1)
    try:
        nets.create()
        for mbit in (float(v) for v in args.rates.split(",")):
            burst = nets.shape(mbit, args.burst_kb)
            latency = nc.message_latency_s(nets)
            log.info("%g Mbit/s, bucket %s: one-way message latency %.3f ms", mbit, burst, latency * 1e3)
            for rep in range(args.repeats):
                for method in args.methods.split(","):
                    run = runs / f"{method}-{mbit:g}mbit-{rep}"
                    shutil.rmtree(run, ignore_errors=True)
                    load = os.getloadavg()[0]
                    launch = nc.run_in_namespaces(nets, method, args.workers, args.steps, run, args.timeout,
                                                  ["--dataset", args.dataset, *cc.train_flags(args, method)])
                    row = {**analyse(run, runs, method, mbit), "repeat": rep, "burst": burst,
                           "latency_ms": round(latency * 1e3, 3), "launch_s": round(launch, 1),
                           "load_avg_before": round(load, 2), "load_avg_after": round(os.getloadavg()[0], 2)}
                    rows.append(row)
                    log.info("%s", json.dumps(row))
    finally:
        nets.delete()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--rates", default="10,100", help="Mbit/s, comma list")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--steps", type=int, default=240)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flags", action="append", default=["fl-gan=--local-steps 20"], metavar="METHOD=FLAGS",
                        help="more train flags for one method (repeatable); fl-gan gets the default study's 20 "
                        "local steps")
    parser.add_argument("--burst-kb", type=float, default=3.0, help="tbf bucket on every link")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--max-gb", type=float, default=8.0, help="address space cap of every process started")
    parser.add_argument("--name", default="shaped_link_check", help="results/NAME.json and .md")
    parser.add_argument("--runs", default="runs/bench/shaped")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--reuse-local", action="store_true", help="keep the loopback and simulated runs in --runs")
    parser.add_argument("--reanalyse", action="store_true", help="recompute the rows of results/NAME.json from "
                        "the run folders, running nothing")
    parser.add_argument("--max-load", type=float, default=1.0, help="wait until the 1-minute load average is "
                        "below this")
    parser.add_argument("--no-wait", action="store_true", help="time beside other jobs (to try the script out: "
                        "such times are not worth recording)")
    args = parser.parse_args()
    common.setup_logging()
    sys.path.insert(0, str(ROOT / "src"))
    runs = Path(args.runs)
    if args.reanalyse:
        last = json.loads((common.RESULTS / f"{args.name}.json").read_text())
        rows = [{**old, **analyse(runs / f"{old['method']}-{old['mbit']:g}mbit-{old['repeat']}", runs,
                                  old["method"], old["mbit"])} for old in last["rows"]]
        write(args, last["machine"], last.get("local", {}), rows)
        return 0
    if why := nc.unavailable():
        log.info("shaped link check skipped: %s", why)
        return 0
    cap = int(args.max_gb * 2**30)
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))  # inherited by every process started below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` deletes the namespaces
    if not args.no_wait:
        wait_for_quiet(args.max_load)
    BUSY.write_text(str(os.getpid()))
    try:
        info = common.machine()
        local = {} if args.reuse_local else local_runs(args, runs)
        rows = measure(args, runs)
    finally:
        if BUSY.exists() and BUSY.read_text().strip() == str(os.getpid()):
            BUSY.unlink()
    write(args, info, local, rows)
    return 0


def write(args: argparse.Namespace, info: dict[str, Any], local: dict[str, Any], rows: list[dict[str, Any]]
          ) -> None:
    keys = ["loopback", "sim"]
    errors = [abs(r[f"{k}_error_pct"]) for r in rows for k in keys]
    within = sum(e <= LIMIT for e in errors)
    worst = max(rows, key=lambda r: max(abs(r[f"{k}_error_pct"]) for k in keys), default=None)
    summary = {"projections": len(errors), "within_pct": LIMIT, "within": within,
               "largest_abs_error_pct": max(errors, default=None),
               "largest_at": f"{worst['method']} at {worst['mbit']:g} Mbit/s" if worst else None}
    data = {"machine": info, "args": vars(args), "local": local, "summary": summary, "rows": rows}
    head = (f"{within} of {len(errors)} projections (loopback and simulated runs, RATE,0ms) within {LIMIT:g}% of "
            f"measured; the largest error is {summary['largest_abs_error_pct']}% ({summary['largest_at']}).\n\n")
    table = common.markdown_table(
        ["method", "Mbit/s", "repeat", "measured s", "loopback run projected s", "error %",
         "simulated run projected s", "error %", "shaped run's own trace s", "error %", "latency ms",
         "load avg before / after"],
        [[r["method"], r["mbit"], r["repeat"], r["measured_s"], r["loopback_s"], r["loopback_error_pct"], r["sim_s"],
          r["sim_error_pct"], r["own_trace_s"], r["own_trace_error_pct"], r["latency_ms"],
          f"{r['load_avg_before']} / {r['load_avg_after']}"] for r in rows])
    common.write_results(args.name, data, head + table)


if __name__ == "__main__":
    sys.exit(main())
