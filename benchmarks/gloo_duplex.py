"""Does gloo move the two directions of a point-to-point exchange at once? Two ranks in network namespaces behind
tbf-shaped veths (netns_check.py's), timing a one-way send, an exchange (isend + irecv, as md-gan's swap) and an
all-reduce, each of the same tensor.

    sudo .venv/bin/python benchmarks/gloo_duplex.py --mbit 17,272 --kb 410   # results/gloo_duplex.md

Full duplex, an exchange takes as long as a one-way send; one direction at a time, twice as long.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import common
import netns_check as nc

PROBE = """
import json, os, sys, time, torch, torch.distributed as dist
dist.init_process_group("gloo", rank=int(os.environ["RANK"]), world_size=2)
rank, peer, n = int(os.environ["RANK"]), 1 - int(os.environ["RANK"]), int(os.environ["REPS"])
send, recv = torch.ones(int(os.environ["FLOATS"])), torch.zeros(int(os.environ["FLOATS"]))
def one_way():
    if rank == 0: dist.send(send, 1)
    else: dist.recv(recv, 0)
    dist.barrier()
def exchange():
    s = dist.isend(send, peer); r = dist.irecv(recv, peer); r.wait(); s.wait(); dist.barrier()
def all_reduce():
    dist.all_reduce(send); dist.barrier()
out = {}
for name, f in (("one_way", one_way), ("exchange", exchange), ("all_reduce", all_reduce)):
    f(); times = []
    for _ in range(n):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    out[name] = sorted(times)[n // 2]
if rank == 0:
    print(json.dumps(out))
dist.destroy_process_group()
"""


def probe(nets: nc.Namespaces, args: argparse.Namespace, call: int) -> dict[str, float]:
    """Median seconds of each pattern between the two ranks, from rank 0."""
    port = 29700 + (os.getpid() + call) % 90  # a fresh port per call: the last store's may linger
    extra = {"REPS": str(args.reps), "FLOATS": str(int(args.kb * 1000 / 4))}
    return json.loads(nc.two_ranks(nets, PROBE, port, extra, timeout=300))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mbit", default="17,272", help="Mbit/s, comma list")
    parser.add_argument("--kb", type=float, default=410)
    parser.add_argument("--burst-kb", type=float, default=3)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    common.setup_logging()
    if why := nc.unavailable():
        print(f"skipped: {why}")
        return 0
    rows = []
    nets = nc.Namespaces(2)
    try:
        nets.create()
        for call, mbit in enumerate(float(v) for v in args.mbit.split(",")):
            nets.shape(mbit, args.burst_kb)
            seconds = probe(nets, args, call)
            line_s = args.kb * 1000 * 8 / (mbit * 1e6) * 1514 / 1448
            rows.append({"mbit": mbit, "kb": args.kb, "line_s": round(line_s, 4),
                         **{k: round(v, 4) for k, v in seconds.items()}})
            print(json.dumps(rows[-1]))
    finally:
        nets.delete()
    table = common.markdown_table(["Mbit/s", "KB", "line time s", "one-way send s", "exchange s", "all-reduce s"],
                                  [[r["mbit"], r["kb"], r["line_s"], r["one_way"], r["exchange"], r["all_reduce"]]
                                   for r in rows])
    common.write_results("gloo_duplex", {"machine": common.machine(), "args": vars(args), "rows": rows}, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
