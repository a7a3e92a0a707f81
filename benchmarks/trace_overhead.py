"""What the trace costs per step: its calls per step, times the cost of one call, against the step's wall time.

    .venv/bin/python benchmarks/trace_overhead.py                      # sync-dp, async-ps, fl-gan, md-gan at N = 4
    .venv/bin/python benchmarks/trace_overhead.py --steps 60 --dataset mnist5k

A with/without comparison of whole runs cannot resolve 2% on a shared 2-core machine (runs of the same config
differ by more than that), so the cost is taken apart instead: each method runs for a few steps on the
simulated transport (no evaluator) and its trace.jsonl gives every rank's trace calls per step (one per message
and compute item, and the step's begin); one call (`note`, `phase`, `begin` in turn) is timed over 200,000
repetitions; and the final encoding of the whole trace, paid once at the end, is timed on the real records.
The overhead is the most-calling rank's calls per step x cost per call / the step's floor (the busiest rank's
compute per step, which no step is shorter than); beside it, all ranks' calls x cost / all ranks' compute.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import common

log = logging.getLogger("benchmarks.trace_overhead")


def cost_per_call(repeats: int = 200_000) -> float:
    """Seconds of one trace call, averaged over note, phase and begin as a step makes them."""
    from distgan.transport.trace import Trace

    trace = Trace(0)
    start = time.perf_counter()
    for i in range(repeats // 4):
        trace.begin(i + 1)
        trace.phase("D step")
        trace.note("s", "kind", 1, 1024, time.perf_counter())
        trace.note("r", "kind", 1, 1024, time.perf_counter())
    return (time.perf_counter() - start) / (repeats // 4 * 4)


def one(method: str, args: argparse.Namespace) -> dict:
    from distgan.config import RunConfig
    from distgan.data.registry import load_dataset
    from distgan.launch import run_simulated
    from distgan.transport.trace import Trace, read_trace

    out = Path(args.runs) / method
    own = {"local_steps": 5} if method == "fl-gan" else {}
    config = RunConfig.of(method=method, workers=args.workers, backend="sim", dataset=args.dataset, steps=args.steps,
                          log_every=10, sample_every=args.steps, checkpoint_every=args.steps, progress=False,
                          tensorboard=False, out=str(out), **own).validate()
    dataset = load_dataset(config.dataset)
    run_simulated(config.resolved(dataset), dataset, None)
    records = read_trace(out / "trace.jsonl")
    calls: dict[int, list[int]] = {}
    compute: dict[int, list[float]] = {}
    for r in records:  # each item is one call at most (merged compute items are fewer), plus the step's begin
        calls.setdefault(r["rank"], []).append(len(r["ops"]) + 1)
        compute.setdefault(r["rank"], []).append(
            sum(i[2] for i in r["ops"] if i[0] == "c" and i[1] != "record"))
    # a step is never shorter than the busiest rank's compute per record: the floor under every rank's step
    floor = max(sum(c) / len(c) for c in compute.values())
    rank = max(calls, key=lambda k: sum(calls[k]) / len(calls[k]))
    cpu_share = sum(map(sum, calls.values())) / sum(map(sum, compute.values()))
    trace = Trace(rank)
    trace._records = [dict(r) for r in records if r["rank"] == rank]
    start = time.perf_counter()
    encoded = trace.encode()
    encode_s = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text())
    return {"method": method, "workers": args.workers, "rank": rank, "steps": args.steps,
            "calls_per_step": sum(calls[rank]) / len(calls[rank]), "step_floor_s": floor,
            "calls_per_compute_s": cpu_share, "encode_s": encode_s,
            "trace_bytes": len(encoded), "run_wall_s": summary["wall_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="sync-dp,async-ps,fl-gan,md-gan")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--runs", default="runs/bench/trace_overhead")
    args = parser.parse_args()
    common.setup_logging()
    info = common.machine()
    per_call = cost_per_call()
    rows = []
    for method in args.methods.split(","):
        row = one(method, args)
        row["per_call_us"] = per_call * 1e6
        row["overhead_pct"] = 100 * row["calls_per_step"] * per_call / row["step_floor_s"]
        row["cpu_share_pct"] = 100 * row["calls_per_compute_s"] * per_call
        row["encode_pct_of_run"] = 100 * row["encode_s"] / row["run_wall_s"]
        rows.append(row)
        log.info("%s", json.dumps(row))
    table = common.markdown_table(
        ["method", "N", "busiest rank", "its trace calls / record", "µs / call", "record floor ms",
         "overhead % of a record", "% of all compute", "final encode ms", "% of run"],
        [[r["method"], r["workers"], r["rank"], r["calls_per_step"], r["per_call_us"], r["step_floor_s"] * 1e3,
          r["overhead_pct"], r["cpu_share_pct"], r["encode_s"] * 1e3, r["encode_pct_of_run"]] for r in rows])
    common.write_results("trace_overhead", {"machine": info, "args": vars(args), "rows": rows}, table)


if __name__ == "__main__":
    main()
