"""Check `distgan project` against real shaped links: ranks in network namespaces, each behind a tc-shaped veth.

    sudo .venv/bin/python benchmarks/netns_check.py                  # 20, 100, 500 Mbit/s; sync-dp, fl-gan, md-gan
    sudo .venv/bin/python benchmarks/netns_check.py --rates 20,100 --methods md-gan --steps 40

Topology: one namespace per rank, each with one veth (`eth0`, 10.77.0.R+1/24) whose other end sits on a bridge
in a hub namespace. Each rank's link is shaped both ways with tbf at the same rate: egress of its eth0 is its
up link, egress of the hub's end is its down link, which is the link model's one link per rank. The ranks are
the real process transport (gloo over TCP), started as torchrun would: RANK, WORLD_SIZE, MASTER_ADDR=rank 0's
address, with DISTGAN_BIND_ALL=1 and GLOO_SOCKET_IFNAME=eth0. Addresses exist only inside the namespaces this
script creates, and it deletes them whatever happens (try/finally), so no traffic leaves them.

This kernel has no netem, so latency cannot be shaped: links are `RATE,0ms` (veth adds some tens of µs) and
the check is of the bandwidth term. The projection uses the run's own traced compute (`--compute trace`), so
it tests the network model, not the calibration. Measured is the training time on rank 0: its first step's
start to its last step's end, less its evaluations and samples, which the projection leaves out too.

Needs root and `ip netns`; without them it says why and exits 0. Not a test; CI does not run it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import common

log = logging.getLogger("benchmarks.netns_check")
ROOT = Path(__file__).resolve().parent.parent
PREFIX = f"dg{os.getpid() % 100000}"  # namespace and link names of this run: nothing else is touched
SUBNET = "10.77.0"


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def unavailable() -> str | None:
    """Why this machine cannot run the check, or None."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if not shutil.which("ip") or not shutil.which("tc"):
        return "needs iproute2's `ip` and `tc`"
    if sh("ip", "netns", "list", check=False).returncode != 0:
        return "`ip netns` does not work here"
    return None


class Namespaces:
    """A hub namespace with a bridge and one namespace per rank joined to it by a veth pair."""

    def __init__(self, ranks: int):
        self.hub = f"{PREFIX}hub"
        self.names = [f"{PREFIX}r{r}" for r in range(ranks)]
        self.made: list[str] = []

    def create(self) -> None:
        sh("ip", "netns", "add", self.hub)
        self.made.append(self.hub)
        hub = ("ip", "netns", "exec", self.hub)
        sh(*hub, "ip", "link", "add", "br0", "type", "bridge")
        sh(*hub, "ip", "link", "set", "br0", "up")
        for r, ns in enumerate(self.names):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            here, there = f"{PREFIX}h{r}", f"{PREFIX}v{r}"
            sh("ip", "link", "add", here, "type", "veth", "peer", "name", there)
            sh("ip", "link", "set", here, "netns", self.hub)
            sh("ip", "link", "set", there, "netns", ns)
            sh(*hub, "ip", "link", "set", here, "master", "br0")
            sh(*hub, "ip", "link", "set", here, "up")
            inside = ("ip", "netns", "exec", ns)
            sh(*inside, "ip", "link", "set", there, "name", "eth0")
            sh(*inside, "ip", "addr", "add", f"{SUBNET}.{r + 1}/24", "dev", "eth0")
            sh(*inside, "ip", "link", "set", "eth0", "up")
            sh(*inside, "ip", "link", "set", "lo", "up")

    def shape(self, mbit: float, burst_kb: float | None = None) -> str:
        """tbf at `mbit` on every rank's up (its eth0) and down (the hub's end) link; returns the bucket."""
        # a small bucket: a large one refills while a rank computes and lets the next message out at line rate
        # (seen with 128 KB at 20 Mbit/s: a 137 KB all-reduce in 13 ms instead of 55). GSO packets above it
        # are segmented by tbf, not dropped. The default, 2 ms at rate and at least 16 KB, still lets a 16 KB
        # message out at once (0.4 ms for 6.6 ms at 20 Mbit/s); crossover_check.py passes a smaller one.
        burst = f"{burst_kb:g}kb" if burst_kb else f"{max(16, int(mbit * 1e6 / 8 * 0.002 / 1024))}kb"
        for r, ns in enumerate(self.names):
            for where, dev in ((ns, "eth0"), (self.hub, f"{PREFIX}h{r}")):
                sh("ip", "netns", "exec", where, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
                   "rate", f"{mbit}mbit", "burst", burst, "latency", "400ms")
        return burst

    def delete(self) -> None:
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check=False)
        self.made.clear()


def run_in_namespaces(nets: Namespaces, method: str, workers: int, steps: int, out: Path, timeout: float,
                      extra: Sequence[str] = ()) -> float:
    """Start one `distgan train` rank per namespace, as torchrun would (`extra`: more train flags); return the
    wall seconds of the launch."""
    from distgan.methods import method_spec

    world = workers + (1 if method_spec(method).has_server else 0)  # gossip-gan has no server either
    port = 29400 + os.getpid() % 500
    args = ["-m", "distgan", "train", "--method", method, "--workers", str(workers), "--dataset", "digits",
            "--steps", str(steps), "--out", str(out), "--master-addr", f"{SUBNET}.1", "--master-port", str(port),
            "--threads", "1", "--no-progress", "--no-tensorboard", "--worker-timeout", "120"]
    if method == "fl-gan" and "--local-steps" not in extra:
        args += ["--local-steps", "10"]
    args += list(extra)
    env = {**os.environ, "WORLD_SIZE": str(world), "MASTER_ADDR": f"{SUBNET}.1", "MASTER_PORT": str(port),
           "DISTGAN_BIND_ALL": "1", "GLOO_SOCKET_IFNAME": "eth0", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT / "src"), "LOCAL_WORLD_SIZE": "1", "LOCAL_RANK": "0"}
    procs = []
    start = time.perf_counter()
    try:
        for r in range(world):
            procs.append(subprocess.Popen(["ip", "netns", "exec", nets.names[r], sys.executable, *args],
                                          env={**env, "RANK": str(r)}, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE if r == 0 else subprocess.DEVNULL, text=True))
        _, err = procs[0].communicate(timeout=timeout)
        if procs[0].returncode:
            raise RuntimeError(f"{method}: rank 0 exited {procs[0].returncode}: {err[-2000:]}")
        for p in procs[1:]:
            p.wait(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return time.perf_counter() - start


PINGPONG = """
import os, sys, time, torch, torch.distributed as dist
dist.init_process_group("gloo", rank=int(os.environ["RANK"]), world_size=2)
t, rank, n = torch.zeros(1), int(os.environ["RANK"]), 300
for i in range(n + 20):
    if i == 20:
        start = time.perf_counter()
    if rank == 0:
        dist.send(t, 1); dist.recv(t, 1)
    else:
        dist.recv(t, 0); dist.send(t, 0)
if rank == 0:
    print((time.perf_counter() - start) / n / 2)
dist.destroy_process_group()
"""


def message_latency_s(nets: Namespaces) -> float:
    """One-way seconds of a 4-byte gloo message between ranks 0 and 1 over the shaped veths (half a round trip):
    the latency the links have though none is shaped (veth, TCP, gloo's rendezvous, and the machine's load)."""
    return float(two_ranks(nets, PINGPONG, 29900 + os.getpid() % 90, {}, timeout=120))


def two_ranks(nets: Namespaces, script: str, port: int, extra_env: dict[str, str], timeout: float) -> str:
    """Run `script` (python -c) as ranks 0 and 1 of a gloo group in the first two namespaces; rank 0's last line."""
    env = {**os.environ, "WORLD_SIZE": "2", "MASTER_ADDR": f"{SUBNET}.1", "MASTER_PORT": str(port),
           "GLOO_SOCKET_IFNAME": "eth0", "OMP_NUM_THREADS": "1", **extra_env}
    procs = [subprocess.Popen(["ip", "netns", "exec", nets.names[r], sys.executable, "-c", script],
                              env={**env, "RANK": str(r)}, stdout=subprocess.PIPE, text=True) for r in (0, 1)]
    try:
        out, _ = procs[0].communicate(timeout=timeout)
        procs[1].wait(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return out.strip().splitlines()[-1]


def measured_training_s(run: Path) -> float:
    """Rank 0's time from the end of its first step (or round) to the end of its last, less its "record" compute
    (evaluations, samples, logs). The first step is left out: it waits for ranks that start seconds apart."""
    from distgan.transport.trace import read_trace

    mine = [r for r in read_trace(run / "trace.jsonl") if r["rank"] == 0 and r["step"] >= 1]
    span = mine[-1]["t0"] + mine[-1]["wall"] - (mine[0]["t0"] + mine[0]["wall"])
    record = sum(i[2] for r in mine[1:] for i in r["ops"] if i[0] == "c" and i[1] == "record")
    return span - record


def analyse(out: Path, method: str, mbit: float, latency_s: float = 0.0) -> dict[str, Any]:
    """Measured against projected on `mbit` and the measured message latency, over the same window (after rank 0's
    first step or round)."""
    from distgan.network.profiles import IDEAL, parse_profile
    from distgan.network.project import projector

    on, _ = projector(out, compute="trace")
    shaped, ideal = on(parse_profile(f"{mbit:g}mbit,{latency_s * 1e6:.0f}us")), on(IDEAL)

    def window(replayed) -> float:
        ends = [replayed.step_end_s[k] for k in sorted(replayed.step_end_s) if k >= 1]
        return ends[-1] - ends[0]

    measured, projected = measured_training_s(out), window(shaped)
    busiest = max(shaped.link_bytes.values())
    return {"method": method, "mbit": mbit, "measured_s": round(measured, 2), "projected_s": round(projected, 2),
            "compute_only_s": round(window(ideal), 2),
            "error_pct": round(100 * (projected - measured) / measured, 1), "busiest_link_bytes": busiest,
            "median_step_error_pct": round(median_step_error(out, shaped), 1)}


def median_step_error(out: Path, shaped) -> float:
    """Median over rank 0's steps (rounds) after the first of (projected - measured) / measured: what a few
    stalls of a loaded machine do to the total does not move it."""
    import statistics

    from distgan.transport.trace import read_trace

    mine = [r for r in read_trace(out / "trace.jsonl") if r["rank"] == 0 and r["step"] >= 1]
    ends = [shaped.step_end_s[k] for k in sorted(shaped.step_end_s) if k >= 1]
    errors = []
    for r, start, end in zip(mine[1:], ends, ends[1:]):
        measured = r["wall"] - sum(i[2] for i in r["ops"] if i[0] == "c" and i[1] == "record")
        if measured > 0:
            errors.append(100 * ((end - start) - measured) / measured)
    return statistics.median(errors) if errors else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="20,100,500", help="Mbit/s, comma list")
    parser.add_argument("--methods", default="sync-dp,fl-gan,md-gan")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--runs", default="runs/bench/netns")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--reanalyse", action="store_true", help="recompute the rows of the last check "
                        "(results/netns_check.json, which keeps each row's load) from its run folders, running nothing")
    args = parser.parse_args()
    common.setup_logging()
    sys.path.insert(0, str(ROOT / "src"))
    if args.reanalyse:
        last = json.loads((common.RESULTS / "netns_check.json").read_text())
        rows = [{**old, **analyse(Path(args.runs) / f"{old['method']}-{old['mbit']:g}mbit", old["method"],
                                  old["mbit"], old.get("latency_ms", 0.0) / 1e3)} for old in last["rows"]]
        write(rows, args, last["machine"])
        return 0
    why = unavailable()
    if why:
        log.info("netns check skipped: %s", why)
        return 0
    info = common.machine()
    rows: list[dict[str, Any]] = []
    nets = Namespaces(args.workers + 1)
    try:
        nets.create()
        for mbit in (float(v) for v in args.rates.split(",")):
            nets.shape(mbit)
            latency = message_latency_s(nets)
            log.info("%g Mbit/s: one-way message latency %.3f ms", mbit, latency * 1e3)
            for method in args.methods.split(","):
                out = Path(args.runs) / f"{method}-{mbit:g}mbit"
                shutil.rmtree(out, ignore_errors=True)
                load = os.getloadavg()[0]
                launch_s = run_in_namespaces(nets, method, args.workers, args.steps, out, args.timeout)
                row = {**analyse(out, method, mbit, latency), "latency_ms": round(latency * 1e3, 3),
                       "launch_s": round(launch_s, 1),
                       "load_avg_before": round(load, 2), "load_avg_after": round(os.getloadavg()[0], 2)}
                rows.append(row)
                log.info("%s", json.dumps(row))
    finally:
        nets.delete()
    write(rows, args, info)
    return 0


def write(rows: list[dict[str, Any]], args: argparse.Namespace, info: dict[str, Any] | None = None) -> None:
    data = {"machine": info or common.machine(), "args": vars(args), "rows": rows}
    table = common.markdown_table(
        ["method", "Mbit/s", "latency ms (measured)", "measured s", "projected s", "error %", "median step error %",
         "compute only s", "busiest link MB", "load avg before / after"],
        [[r["method"], r["mbit"], r.get("latency_ms", 0.0), r["measured_s"], r["projected_s"], r["error_pct"],
          r["median_step_error_pct"], r["compute_only_s"], r["busiest_link_bytes"] / 1e6,
          f"{r['load_avg_before']} / {r['load_avg_after']}"] for r in rows])
    common.write_results("netns_check", data, table)


if __name__ == "__main__":
    sys.exit(main())
