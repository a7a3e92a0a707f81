"""Check a crossover bandwidth of `distgan report --network` on real shaped links: the measured order of two
methods must flip where the projection says.

    sudo .venv/bin/python benchmarks/crossover_check.py     # sync-dp against md-gan, N = 2, digits, b = 256, 150 steps
    sudo .venv/bin/python benchmarks/crossover_check.py --rates 30,300   # given rates instead of crossover /x factor
    sudo .venv/bin/python benchmarks/crossover_check.py --reanalyse      # recompute the rows from the run folders
    sudo .venv/bin/python benchmarks/crossover_check.py --flags 'md-gan=--swap-every 100' --name crossover_check_steep

1. **Loopback runs.** Each method trains once on this machine's loopback (the process transport, one torch thread
   per rank), as a user's study would; `distgan project` calibrates each (calibration.json in the run folder).
2. **The predicted crossover.** Each loopback run is projected as the report projects it (`projector(run)`,
   compute 'auto', which is the calibration for a process run) on the report's grid of bandwidths (1 Mbit/s to
   100 Gbit/s, 0 ms), and the crossing is found as the report finds it (log-interpolated between grid points),
   then refined by bisection. The time compared is the training window the check can measure: rank 0's time
   from the end of its first step to the end of its last (ranks start seconds apart; the replay cannot know
   that), for the same number of steps of both methods. The report compares time to a target; at a fixed
   number of steps the two are the same crossing.
3. **Real links.** Both methods run twice at one rate below and one above the crossover (crossover / and
   x --factor, 4), each rank in its own network namespace behind a tbf-shaped veth (netns_check.py's machinery).
   The bucket is small (--burst-kb, default 3 KB, two packets): netns_check's 16 KB bucket refills while the
   ranks compute and lets md-gan's 16 KB messages out at once (measured: 0.4 ms instead of 6.6 ms at 20 Mbit/s),
   which a link of that rate cannot do. A gloo ping-pong measures the links' message latency at each rate.
4. **Rows.** Measured window against: the loopback run's projection at RATE,0ms (primary: what the report
   would say), the same with the measured latency, and the shaped run's own trace with calibrated and with
   traced compute (the last is netns_check's projection).

Needs root and `ip netns`; without them it says why and exits 0. Not a test; CI does not run it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common
import netns_check as nc

log = logging.getLogger("benchmarks.crossover_check")
ROOT = Path(__file__).resolve().parent.parent
LO, HI = 5.0, 500.0  # Mbit/s that tbf shapes well on this machine
GRID = [1e6 * 10 ** (k / 4) for k in range(21)]  # the report's grid (distgan.report.network.GRID)


def wait_while_busy() -> None:
    """Another engineer's timing study may claim this shared machine with /tmp/busy: wait until it is gone."""
    while Path("/tmp/busy").exists():
        log.info("/tmp/busy exists: waiting")
        time.sleep(15)


def method_flags(args: argparse.Namespace, method: str) -> list[str]:
    """The --flags given for `method` (`md-gan=--swap-every 100`), split as a shell would."""
    import shlex

    return [flag for given in args.flags if given.partition("=")[0] == method
            for flag in shlex.split(given.partition("=")[2])]


def train_flags(args: argparse.Namespace, method: str) -> list[str]:
    return [*method_flags(args, method), "--batch-size", str(args.batch_size), "--eval-every", "0",
            "--sample-every", str(10 * args.steps),
            "--log-every", str(args.steps), "--checkpoint-every", str(args.steps), "--seed", str(args.seed)]


def loopback_run(method: str, args: argparse.Namespace, out: Path) -> float:
    """One run over this machine's loopback, launched by distgan itself; wall seconds of the command."""
    shutil.rmtree(out, ignore_errors=True)
    wait_while_busy()
    cmd = [sys.executable, "-m", "distgan", "train", "--method", method, "--workers", str(args.workers),
           "--dataset", args.dataset, "--steps", str(args.steps), "--out", str(out), "--threads", "1",
           "--no-progress", "--no-tensorboard", "--master-port", str(29300 + os.getpid() % 90),
           *train_flags(args, method)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True)
    return time.perf_counter() - start


def window(replayed) -> float:
    """Rank 0's projected seconds from the end of its first step (record) to the end of its last."""
    ends = [replayed.step_end_s[k] for k in sorted(replayed.step_end_s) if k >= 1]
    return ends[-1] - ends[0]


def profile(mbit: float, latency_s: float = 0.0):
    from distgan.network.profiles import parse_profile

    return parse_profile(f"{mbit:g}mbit,{latency_s * 1e6:.0f}us")


def crossover(names: list[str], on_a, on_b, latency_s: float = 0.0) -> dict[str, Any]:
    """Where the two projected windows cross: on the report's grid, log-interpolated, then by bisection."""
    diff = {bps: window(on_a(profile(bps / 1e6, latency_s))) - window(on_b(profile(bps / 1e6, latency_s)))
            for bps in GRID}
    for lo, hi in zip(GRID, GRID[1:]):
        if diff[lo] == 0 or diff[lo] * diff[hi] > 0:
            continue
        frac = diff[lo] / (diff[lo] - diff[hi])
        grid_bps = math.exp(math.log(lo) + frac * (math.log(hi) - math.log(lo)))
        a, b = lo, hi
        for _ in range(20):
            mid = math.sqrt(a * b)
            d = window(on_a(profile(mid / 1e6, latency_s))) - window(on_b(profile(mid / 1e6, latency_s)))
            a, b = (mid, b) if d * diff[lo] > 0 else (a, mid)
        return {"grid_mbit": round(grid_bps / 1e6, 2), "bisected_mbit": round(math.sqrt(a * b) / 1e6, 2),
                "slower_below": names[0] if diff[lo] > 0 else names[1],
                "grid_diff_s": {f"{bps / 1e6:g}": round(d, 3) for bps, d in diff.items()}}
    return {"grid_mbit": None, "bisected_mbit": None,
            "grid_diff_s": {f"{bps / 1e6:g}": round(d, 3) for bps, d in diff.items()}}


def traced_phases(run: Path) -> dict[str, dict[str, list[float]]]:
    """Each (role, phase) of a run's trace: [median, mean] seconds per update after the first record, so the
    calibration's medians can be set beside what the run traced."""
    import statistics
    from collections import defaultdict

    from distgan.methods import method_spec
    from distgan.network.calibrate import role
    from distgan.transport.trace import read_trace

    has_server = method_spec(json.loads((run / "config.json").read_text())["method"]).has_server
    per: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in read_trace(run / "trace.jsonl"):
        if r["step"] < 1:
            continue
        totals: dict[str, float] = defaultdict(float)
        for item in r["ops"]:
            if item[0] == "c":
                totals[item[1]] += item[2]
        for label, seconds in totals.items():
            per[role(int(r["rank"]), has_server), label].append(seconds / max(1, int(r.get("updates", 1))))
    out: dict[str, dict[str, list[float]]] = defaultdict(dict)
    for (who, label), values in per.items():
        out[who][label] = [round(statistics.median(values), 6), round(statistics.fmean(values), 6)]
    return dict(out)


def predict(args: argparse.Namespace, runs: Path) -> dict[str, Any]:
    """Loopback runs of both methods, calibrated; their projected windows and crossover at 0 ms."""
    from distgan.network.calibrate import calibrate
    from distgan.network.profiles import IDEAL
    from distgan.network.project import projector

    a, b = args.pair.split(",")
    out: dict[str, Any] = {"methods": [a, b], "loopback": {}}
    ons = {}
    for method in (a, b):
        run = runs / f"loopback-{method}"
        if not args.reanalyse and not args.reuse_loopback:
            seconds = loopback_run(method, args, run)
            started = time.perf_counter()
            calibrate(run, refresh=True)
            log.info("%s loopback: %.1f s, calibrated in %.1f s", method, seconds, time.perf_counter() - started)
        on, source = projector(run)  # what the report uses: compute 'auto'
        ons[method] = on
        out["loopback"][method] = {"measured_window_s": round(nc.measured_training_s(run), 3),
                                   "compute_only_s": round(window(on(IDEAL)), 3), "compute_from": source,
                                   "calibration": calibrate(run),  # as projected: capped at the trace
                                   "traced": traced_phases(run)}
    out["crossover_0ms"] = crossover([a, b], ons[a], ons[b])
    out["_projectors"] = ons
    return out


def rates_around(cross_mbit: float, factor: float) -> list[float]:
    low, high = max(LO, cross_mbit / factor), min(HI, cross_mbit * factor)
    if not low < cross_mbit < high:
        raise SystemExit(f"crossover at {cross_mbit:g} Mbit/s: no rate on both sides within {LO:g}..{HI:g} Mbit/s")
    return [round(low, 1), round(high, 1)]


def half_duplex(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trace with gloo's exchange as it behaves: one direction at a time (benchmarks/gloo_duplex.py: at
    17 Mbit/s an exchange of 410 KB takes 0.40 s, a one-way send 0.20 s, an all-reduce 0.23 s). A swap whose peer
    swaps back with it (a 2-cycle, as md-gan's at N = 2) becomes a send then a receive on the lower rank and a
    receive then a send on the higher; the replay's links are left as they are."""
    out = []
    for record in records:
        ops = []
        for item in record["ops"]:
            if item[0] == "x" and item[2] == item[5]:  # ["x", kind, dst, bytes, seconds, src]
                send, recv = ["s", item[1], item[2], item[3], 0.0], ["r", item[1], item[5], item[3], 0.0]
                ops += [send, recv] if int(record["rank"]) < item[2] else [recv, send]
            else:
                ops.append(item)
        out.append({**record, "ops": ops})
    return out


def half_duplex_projector(run: Path, compute: str):
    """projector(run, compute) on the half-duplex trace."""
    from distgan.network.project import compute_model, load_run_trace
    from distgan.network.replay import replay

    config, _, records = load_run_trace(run)
    model, _ = compute_model(run, config, records, compute)
    records, world = half_duplex(records), max(int(r["rank"]) for r in records) + 1
    return lambda prof: replay(records, prof.links(world), model)


def analyse(prediction: dict[str, Any], run: Path, method: str, loopback: Path, mbit: float,
            latency_s: float) -> dict[str, Any]:
    """Measured window of a shaped run against the four projections."""
    from distgan.network.project import projector

    shutil.copy(loopback / "calibration.json", run / "calibration.json")  # same config: the same calibration
    on_loop = prediction["_projectors"][method]
    own_cal, _ = projector(run, compute="calibrate")
    own_trace, _ = projector(run, compute="trace")
    measured = nc.measured_training_s(run)
    shaped = profile(mbit, latency_s)
    projected = {"loopback_0ms": window(on_loop(profile(mbit))), "loopback_latency": window(on_loop(shaped)),
                 "own_calibrated": window(own_cal(shaped)), "own_trace": window(own_trace(shaped)),
                 "loopback_half_duplex": window(half_duplex_projector(loopback, "auto")(profile(mbit))),
                 "own_trace_half_duplex": window(half_duplex_projector(run, "trace")(shaped))}
    row = {"method": method, "mbit": mbit, "measured_s": round(measured, 2)}
    for k, v in projected.items():
        row[f"{k}_s"] = round(v, 2)
        row[f"{k}_error_pct"] = round(100 * (v - measured) / measured, 1)
    return row


def measure(args: argparse.Namespace, prediction: dict[str, Any], rates: list[float], runs: Path
            ) -> list[dict[str, Any]]:
    a, b = prediction["methods"]
    rows = []
    nets = nc.Namespaces(args.workers + 1)
    try:
        nets.create()
        if args.tsq_bytes:  # TCP small queues: at most this many bytes of a socket wait in its rank's qdisc
            for ns in nets.names:
                nc.sh("ip", "netns", "exec", ns, "sysctl", "-w", f"net.ipv4.tcp_limit_output_bytes={args.tsq_bytes}")
        for i, mbit in enumerate(rates):
            burst = nets.shape(mbit, args.burst_kb)
            latency = nc.message_latency_s(nets)
            log.info("%g Mbit/s, bucket %s: one-way message latency %.3f ms", mbit, burst, latency * 1e3)
            for rep in range(args.repeats):
                order = (a, b) if (i + rep) % 2 == 0 else (b, a)  # alternate, so drift favours neither
                order = [m for m in order if not args.methods or m in args.methods.split(",")]
                for method in order:
                    run = runs / f"{method}-{mbit:g}mbit-{rep}"
                    shutil.rmtree(run, ignore_errors=True)
                    wait_while_busy()
                    load = os.getloadavg()[0]
                    launch = nc.run_in_namespaces(nets, method, args.workers, args.steps, run, args.timeout,
                                                  ["--dataset", args.dataset, *train_flags(args, method)])
                    row = {**analyse(prediction, run, method, runs / f"loopback-{method}", mbit, latency),
                           "repeat": rep, "burst": burst, "latency_ms": round(latency * 1e3, 3),
                           "launch_s": round(launch, 1), "load_avg_before": round(load, 2),
                           "load_avg_after": round(os.getloadavg()[0], 2)}
                    rows.append(row)
                    log.info("%s", json.dumps(row))
    finally:
        nets.delete()
    return rows


def order_at(rows: list[dict[str, Any]], mbit: float, key: str) -> list[str]:
    """Methods at `mbit` from fastest to slowest by the mean of `key` over repeats."""
    means: dict[str, list[float]] = {}
    for r in rows:
        if r["mbit"] == mbit:
            means.setdefault(r["method"], []).append(r[key])
    return sorted(means, key=lambda m: sum(means[m]) / len(means[m]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="sync-dp,md-gan")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=256, help="b per worker: at the default 64 the crossover "
                        "is near 400 Mbit/s, too high to bracket within what tbf shapes here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flags", action="append", default=[], metavar="METHOD=FLAGS",
                        help="more train flags for one method of the pair, e.g. 'md-gan=--swap-every 100' (repeatable)")
    parser.add_argument("--rates", help="Mbit/s below,above the crossover (default: crossover / and x --factor)")
    parser.add_argument("--factor", type=float, default=4.0)
    parser.add_argument("--burst-kb", type=float, default=3.0, help="tbf bucket on every link")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tsq-bytes", type=int, default=0, help="net.ipv4.tcp_limit_output_bytes in every rank's "
                        "namespace (0: the kernel's, 4 MB here, so a whole message can queue in tbf ahead of the "
                        "acknowledgements of the other direction)")
    parser.add_argument("--reuse-loopback", action="store_true", help="keep the loopback runs and calibrations "
                        "already in --runs")
    parser.add_argument("--name", default="crossover_check", help="results/NAME.json and .md")
    parser.add_argument("--methods", help="measure only these of the pair (default: both)")
    parser.add_argument("--runs", default="runs/bench/crossover")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--reanalyse", action="store_true", help="recompute everything from the run folders of "
                        "the last check (results/crossover_check.json), running nothing")
    args = parser.parse_args()
    common.setup_logging()
    sys.path.insert(0, str(ROOT / "src"))
    runs = Path(args.runs)
    last = json.loads((common.RESULTS / f"{args.name}.json").read_text()) if args.reanalyse else None
    if not args.reanalyse and (why := nc.unavailable()):
        log.info("crossover check skipped: %s", why)
        return 0
    info = last["machine"] if last else common.machine()
    prediction = predict(args, runs)
    cross = prediction["crossover_0ms"]["bisected_mbit"]
    log.info("predicted crossover at 0 ms: %s", json.dumps({k: v for k, v in prediction["crossover_0ms"].items()
                                                             if k != "grid_diff_s"}))
    if last:
        rates = last["rates"]
        rows = [{**old, **analyse(prediction, runs / f"{old['method']}-{old['mbit']:g}mbit-{old['repeat']}",
                                  old["method"], runs / f"loopback-{old['method']}", old["mbit"],
                                  old["latency_ms"] / 1e3)} for old in last["rows"]]
    else:
        if cross is None and not args.rates:
            raise SystemExit("the two projections do not cross between 1 Mbit/s and 100 Gbit/s; pick another pair")
        rates = [float(v) for v in args.rates.split(",")] if args.rates else rates_around(cross, args.factor)
        rows = measure(args, prediction, rates, runs)
    latency_ms = sum(r["latency_ms"] for r in rows) / len(rows)  # the links' own: veth, TCP, gloo, the load
    ons = prediction.pop("_projectors")
    a, b = prediction["methods"]
    prediction["crossover_measured_latency"] = {"latency_ms": round(latency_ms, 3),
                                                **crossover([a, b], ons[a], ons[b], latency_ms / 1e3)}
    write(args, info, prediction, rates, rows)
    return 0


def write(args: argparse.Namespace, info: dict[str, Any], prediction: dict[str, Any], rates: list[float],
          rows: list[dict[str, Any]]) -> None:
    orders = {f"{m:g}": {"measured": order_at(rows, m, "measured_s"),
                         "projected": order_at(rows, m, "loopback_0ms_s")} for m in rates}
    data = {"machine": info, "args": vars(args), "prediction": prediction, "rates": rates, "orders": orders,
            "rows": rows}
    cross = prediction["crossover_0ms"]
    head = (f"Predicted crossover (loopback runs, calibrated compute, 0 ms): {cross['bisected_mbit']} Mbit/s "
            f"(report grid: {cross['grid_mbit']}); below it {cross.get('slower_below')} is slower.\n\n")
    head += "".join(f"- {m} Mbit/s: measured order {' < '.join(o['measured'])}; projected "
                    f"{' < '.join(o['projected'])}\n" for m, o in orders.items()) + "\n"
    keys = ["loopback_0ms", "loopback_half_duplex", "own_calibrated", "own_trace", "own_trace_half_duplex"]
    names = ["projected s (report: loopback run, calibrated, 0 ms)", "same, swaps half duplex",
             "own trace, calibrated", "own trace, traced compute", "same, swaps half duplex"]
    table = common.markdown_table(
        ["method", "Mbit/s", "repeat", "measured s"] + [h for n in names for h in (n, "error %")]
        + ["latency ms", "load avg before / after"],
        [[r["method"], r["mbit"], r["repeat"], r["measured_s"]] + [v for k in keys for v in (r[f"{k}_s"],
          r[f"{k}_error_pct"])] + [r["latency_ms"], f"{r['load_avg_before']} / {r['load_avg_after']}"]
         for r in rows])
    common.write_results(args.name, data, head + table)


if __name__ == "__main__":
    sys.exit(main())
