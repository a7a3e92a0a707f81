"""Which of gloo's point-to-point patterns move at once on shaped links: three ranks in network namespaces behind
tbf-shaped veths (netns_check.py's), timing the patterns of the default study's methods, each of one tensor size.

    sudo .venv/bin/python benchmarks/gloo_pairs.py --mbit 100,30,272,10     # results/gloo_pairs.md

- one_way: 0 -> 1, a blocking send (the line time);
- pair_exchange: 0 <-> 1, isend and irecv both ways (md-gan's swap at N = 2);
- gossip: 0 <-> 1, isend G (486 KB) and D (137 KB) both ways, then receive both (gossip-gan at N = 2);
- cross: 0 -> 1 and 2 -> 0 at once, rank 0 sending and receiving on two pairs (async-ps's server).

The replay's rules (distgan/network/replay.py) come from these: one message at a time per pair of ranks, either
way (pair_exchange and gossip take the sum of their one-way times), while two pairs move at once (cross).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import common
import netns_check as nc

PROBE = r'''
import json, os, time, torch, torch.distributed as dist
dist.init_process_group("gloo", rank=int(os.environ["RANK"]), world_size=3)
rank, n = int(os.environ["RANK"]), int(os.environ["REPS"])
a, b = torch.ones(int(os.environ["FLOATS"])), torch.zeros(int(os.environ["FLOATS"]))
g, g2, d, d2 = torch.ones(486000 // 4), torch.zeros(486000 // 4), torch.ones(137000 // 4), torch.zeros(137000 // 4)
def one_way():
    if rank == 0: dist.send(a, 1)
    elif rank == 1: dist.recv(b, 0)
    dist.barrier()
def pair_exchange():
    if rank in (0, 1):
        s = dist.isend(a, 1 - rank); r = dist.irecv(b, 1 - rank); r.wait(); s.wait()
    dist.barrier()
def gossip():
    if rank in (0, 1):
        peer = 1 - rank
        s1 = dist.isend(g, peer); s2 = dist.isend(d, peer)
        dist.recv(g2, peer); dist.recv(d2, peer); s1.wait(); s2.wait()
    dist.barrier()
def cross():
    if rank == 0:
        s = dist.isend(a, 1); r = dist.irecv(b, 2); r.wait(); s.wait()
    elif rank == 1: dist.recv(b, 0)
    else: dist.send(a, 0)
    dist.barrier()
out = {}
for name, f in (("one_way", one_way), ("pair_exchange", pair_exchange), ("gossip", gossip), ("cross", cross)):
    f(); times = []
    for _ in range(n):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    out[name] = sorted(times)[n // 2]
if rank == 0:
    print(json.dumps(out))
dist.destroy_process_group()
'''


def probe(nets: nc.Namespaces, args: argparse.Namespace, port: int) -> dict[str, float]:
    """Median seconds of each pattern, from rank 0."""
    env = {**os.environ, "WORLD_SIZE": "3", "MASTER_ADDR": f"{nc.SUBNET}.1", "MASTER_PORT": str(port),
           "GLOO_SOCKET_IFNAME": "eth0", "OMP_NUM_THREADS": "1", "REPS": str(args.reps),
           "FLOATS": str(int(args.kb * 1000 / 4))}
    procs = [subprocess.Popen(["ip", "netns", "exec", nets.names[r], sys.executable, "-c", PROBE],
                              env={**env, "RANK": str(r)}, stdout=subprocess.PIPE, text=True) for r in range(3)]
    try:
        out, _ = procs[0].communicate(timeout=300)
        for p in procs[1:]:
            p.wait(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mbit", default="100,30,272,10", help="Mbit/s, comma list")
    parser.add_argument("--kb", type=float, default=622.7, help="one_way, pair_exchange and cross: async-ps's params")
    parser.add_argument("--burst-kb", type=float, default=3)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    common.setup_logging()
    if why := nc.unavailable():
        print(f"skipped: {why}")
        return 0
    rows = []
    nets = nc.Namespaces(3)
    try:
        nets.create()
        for call, mbit in enumerate(float(v) for v in args.mbit.split(",")):
            nets.shape(mbit, args.burst_kb)
            seconds = probe(nets, args, 29650 + (os.getpid() + call) % 90)
            line_s = args.kb * 1000 * 8 / (mbit * 1e6) * 1514 / 1448
            rows.append({"mbit": mbit, "kb": args.kb, "line_s": round(line_s, 4),
                         **{k: round(v, 4) for k, v in seconds.items()}})
            print(json.dumps(rows[-1]))
    finally:
        nets.delete()
    table = common.markdown_table(
        ["Mbit/s", "KB", "line time s", "one-way send s", "exchange s", "gossip (623 KB each way) s", "cross s"],
        [[r["mbit"], r["kb"], r["line_s"], r["one_way"], r["pair_exchange"], r["gossip"], r["cross"]] for r in rows])
    common.write_results("gloo_pairs", {"machine": common.machine(), "args": vars(args), "rows": rows}, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
