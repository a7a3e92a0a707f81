"""Several machines for real: torchrun across hosts with their own addresses, and losing a whole host.

    sudo .venv/bin/python benchmarks/multinode_check.py                 # md-gan, fl-gan, sync-dp; 2 hosts x 2
    sudo .venv/bin/python benchmarks/multinode_check.py --methods md-gan --steps 40

Each host is a network namespace with its own address (10.77.0.H+1 on eth0, a veth to a bridge) and its own
private disk: its --out folder is a tmpfs mounted in its own mount namespace, so what host 0's folder holds is
what a user on rank 0's machine would have. In each host runs exactly the README's command:

    torchrun --nnodes 2 --nproc-per-node 2 --node-rank H --rdzv-backend c10d --rdzv-endpoint 10.77.0.1:PORT \\
        --local-addr 10.77.0.H+1 -m distgan train --method M --workers N ...

(--local-addr: without it, the rendezvous hands the workers rank 0's hostname as MASTER_ADDR, and a hostname
names one address per machine, not per namespace. --rdzv-conf is_host=1 on host 0, 0 elsewhere: torchrun
guesses which host serves the rendezvous by matching the endpoint against the machine's hostname, which no
namespace matches, so every host waited for a store nobody served.)

with GLOO_SOCKET_IFNAME=eth0 and the same DISTGAN_RUN_SECRET on every host (docs/howto.md). Checked:
1. each run finishes on every host, host 0's folder holds the whole run (summary, metrics, trace), and its
   FID and bytes per rank and kind equal a run of the same seed started by distgan's own launcher on one host
   (loopback), for md-gan, fl-gan and sync-dp;
2. losing host 1 mid-run: every process in its namespace killed (the machine dies), or its link set down with
   its processes alive (cut off: the hung case). md-gan and fl-gan must finish and list host 1's workers in
   summary.json failures; for sync-dp the check records what happens.

Every namespace it makes is deleted, even on failure. Needs root and `ip netns`; without them it says why and
exits 0. Not a test; CI does not run it.
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
import netns_check as nc

log = logging.getLogger("benchmarks.multinode_check")
ROOT = Path(__file__).resolve().parent.parent
HOSTS, PER_HOST = 2, 2
SECRET = "multinode-check-secret"


def train_args(method: str, steps: int, out: Path, seed: int) -> list[str]:
    workers = HOSTS * PER_HOST - (0 if method == "sync-dp" else 1)  # a server method's rank 0 is its server
    args = ["--method", method, "--workers", str(workers), "--dataset", "digits", "--steps", str(steps),
            "--batch-size", "32", "--seed", str(seed), "--eval-samples", "500", "--eval-every", "0",
            "--checkpoint-every", str(steps // 2), "--log-every", "10", "--threads", "1", "--no-progress",
            "--no-tensorboard", "--out", str(out), "--heartbeat-timeout", "10", "--worker-timeout", "60"]
    if method == "fl-gan":
        args += ["--local-steps", "5"]
    return args


def single_host(method: str, steps: int, out: Path, seed: int) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "distgan", "train", *train_args(method, steps, out, seed)], check=True,
                   capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=900)
    return json.loads((out / "summary.json").read_text())


def start_host(nets: nc.Namespaces, host: int, method: str, steps: int, out: Path, seed: int, port: int,
               logs: Path) -> subprocess.Popen:
    """torchrun for one host, inside its namespace, with --out on a tmpfs of its own."""
    torchrun = [str(Path(sys.executable).parent / "torchrun"), "--nnodes", str(HOSTS), "--nproc-per-node",
                str(PER_HOST), "--node-rank", str(host), "--rdzv-backend", "c10d", "--rdzv-endpoint",
                f"{nc.SUBNET}.1:{port}", "--rdzv-id", f"check{port}", "--local-addr", f"{nc.SUBNET}.{host + 1}",
                "--rdzv-conf", f"is_host={int(host == 0)}",
                "-m", "distgan", "train",
                *train_args(method, steps, out, seed)]
    own_disk = f"mkdir -p {out} && mount -t tmpfs tmpfs {out} && exec \"$@\""
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "eth0", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src"),
           "DISTGAN_RUN_SECRET": SECRET}
    cmd = ["ip", "netns", "exec", nets.names[host], "unshare", "-m", "--propagation", "private", "sh", "-c",
           own_disk, "host", *torchrun] if host > 0 else ["ip", "netns", "exec", nets.names[host], *torchrun]
    log_file = open(logs / f"{out.name}-host{host}.log", "w")
    return subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)


def last_step(out: Path) -> int:
    try:
        lines = (out / "metrics.jsonl").read_text().splitlines()
        return max((json.loads(x).get("step", 0) for x in lines if x.strip()), default=0)
    except (OSError, ValueError):
        return 0


def kill_namespace(ns: str) -> None:
    """Every process in `ns` SIGKILLed: the host is gone."""
    pids = nc.sh("ip", "netns", "pids", ns, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def multi_host(nets: nc.Namespaces, method: str, steps: int, out: Path, seed: int, port: int, logs: Path,
               lose: str | None = None, at_step: int = 0, timeout: float = 900, exit_wait: float = 20
               ) -> dict[str, Any]:
    """One run over the hosts; `lose`: 'kill' or 'link-down' host 1 once host 0 has logged `at_step`."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.monotonic()
    procs = [start_host(nets, h, method, steps, out, seed, port, logs) for h in range(HOSTS)]
    outcome: dict[str, Any] = {"method": method, "lost": lose or "-"}
    try:
        if lose:
            while last_step(out) < at_step and procs[0].poll() is None and time.monotonic() - started < timeout:
                time.sleep(0.2)
            outcome["lost_at_step"] = last_step(out)
            if lose == "kill":
                kill_namespace(nets.names[1])
            else:
                nc.sh("ip", "netns", "exec", nets.names[1], "ip", "link", "set", "eth0", "down")
        summary_file = out / "summary.json"
        while procs[0].poll() is None and not summary_file.is_file() and time.monotonic() - started < timeout:
            time.sleep(0.2)
        outcome["seconds_to_summary"] = round(time.monotonic() - started, 1) if summary_file.is_file() else None
        try:  # after a lost host, torchrun's agent waits at its exit barrier for the lost agent (300 s, measured)
            procs[0].wait(timeout=exit_wait if lose else max(1.0, timeout - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            outcome["host0"] = f"torchrun still waiting {exit_wait:g} s after the summary: stopped"
        outcome["host0_exit"] = procs[0].returncode
        if not lose:
            outcome["host1_exit"] = procs[1].wait(timeout=120)
    finally:
        for h in range(HOSTS):
            kill_namespace(nets.names[h])
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        if lose == "link-down":
            nc.sh("ip", "netns", "exec", nets.names[1], "ip", "link", "set", "eth0", "up", check=False)
    outcome["seconds"] = round(time.monotonic() - started, 1)
    summary_file = out / "summary.json"
    outcome["finished"] = summary_file.is_file()
    outcome["host0_folder"] = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if summary_file.is_file():
        summary = json.loads(summary_file.read_text())
        outcome["summary"] = summary
        outcome["failures"] = [{"rank": f["rank"], "kind": f.get("kind"), "what": f.get("what", "")[:80]}
                               for f in summary.get("failures", [])]
    return outcome


def compare(alone: dict[str, Any], across: dict[str, Any]) -> dict[str, Any]:
    fid_alone, fid_across = alone["final_eval"].get("fid"), across["final_eval"].get("fid")
    return {"fid_single_host": round(fid_alone, 4), "fid_two_hosts": round(fid_across, 4),
            "fid_equal": fid_alone == fid_across,
            "bytes_equal": alone["bytes"]["per_rank"] == across["bytes"]["per_rank"],
            "bytes_total": across["bytes"]["total_sent"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="md-gan,fl-gan,sync-dp")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="runs/bench/multinode")
    parser.add_argument("--no-loss", action="store_true", help="skip the host-loss cases")
    parser.add_argument("--exit-wait", type=float, default=20, help="seconds to let host 0's torchrun exit after "
                        "the run's summary when a host was lost (its agent waits 300 s at an exit barrier)")
    args = parser.parse_args()
    common.setup_logging()
    sys.path.insert(0, str(ROOT / "src"))
    if why := nc.unavailable():
        log.info("multinode check skipped: %s", why)
        return 0
    runs, logs = Path(args.runs).resolve(), Path(args.runs).resolve() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    methods = args.methods.split(",")
    info, rows, losses = common.machine(), [], []
    port = 29500 + os.getpid() % 300
    nets = nc.Namespaces(HOSTS)
    try:
        nets.create()
        for method in methods:
            alone = single_host(method, args.steps, runs / f"{method}-single", args.seed)
            port += 1
            across = multi_host(nets, method, args.steps, runs / f"{method}-hosts", args.seed, port, logs)
            row = {"method": method, "hosts": HOSTS, "processes": HOSTS * PER_HOST, "finished": across["finished"],
                   "host_exits": [across.get("host0_exit"), across.get("host1_exit")],
                   "host0_folder_whole": {"config.json", "summary.json", "metrics.jsonl", "trace.jsonl"}
                   <= set(across["host0_folder"])}
            if across["finished"]:
                row.update(compare(alone, across["summary"]))
            rows.append(row)
            log.info("%s", json.dumps(row))
        if not args.no_loss:
            for method, how in [(m, h) for m in methods for h in ("kill", "link-down")
                                if m != "sync-dp" or h == "kill"]:
                port += 1
                outcome = multi_host(nets, method, args.steps * 3, runs / f"{method}-lose-{how}", args.seed, port,
                                     logs, lose=how, at_step=args.steps // 2, exit_wait=args.exit_wait)
                outcome.pop("summary", None)
                losses.append(outcome)
                log.info("%s", json.dumps(outcome))
    finally:
        nets.delete()
    left = [n for n in nc.sh("ip", "netns", "list").stdout.split() if n.startswith(nc.PREFIX)]
    write(info, rows, losses, left)
    ok = all(r["finished"] and r.get("bytes_equal") and (r.get("fid_equal") or r["method"] == "sync-dp")
             for r in rows)
    ok = ok and all(o["finished"] and {2, 3} <= {f["rank"] for f in o.get("failures", [])}
                    for o in losses if o["method"] != "sync-dp") and not left
    log.info("multinode check %s", "passed" if ok else "FAILED")
    return 0 if ok else 1


def yes(value: Any) -> Any:
    return ("yes" if value else "no") if isinstance(value, bool) else value


def write(info: dict[str, Any], rows: list[dict[str, Any]], losses: list[dict[str, Any]], left: list[str]) -> None:
    rows = [{k: yes(v) for k, v in r.items()} for r in rows]
    losses = [{k: yes(v) for k, v in o.items()} for o in losses]
    table = common.markdown_table(
        ["method", "hosts x processes", "finished", "host 0's folder whole", "FID one host", "FID two hosts",
         "FID equal", "bytes per rank and kind equal"],
        [[r["method"], f"{r['hosts']} x {r['processes'] // r['hosts']}", r["finished"], r["host0_folder_whole"],
          r.get("fid_single_host", "-"), r.get("fid_two_hosts", "-"), r.get("fid_equal", "-"),
          r.get("bytes_equal", "-")] for r in rows])
    lost = common.markdown_table(
        ["method", "host 1", "at step", "finished", "failures in summary.json", "s to summary",
         "host 0's torchrun"],
        [[o["method"], o["lost"], o.get("lost_at_step", "-"), o["finished"],
          "; ".join(f"rank {f['rank']} {f['kind']}" for f in o.get("failures", [])) or "-",
          o.get("seconds_to_summary") or "-", o.get("host0") or f"exit {o.get('host0_exit')}"]
         for o in losses])
    text = (f"2 hosts (network namespaces, own addresses, own tmpfs for --out on host 1) x {PER_HOST} processes, "
            "torchrun c10d rendezvous on 10.77.0.1.\n\n" + table + "\nLosing host 1 mid-run:\n\n" + lost
            + f"\nNamespaces left behind: {left or 'none'}\n")
    common.write_results("multinode_check", {"machine": info, "rows": rows, "losses": losses, "left": left}, text)


if __name__ == "__main__":
    sys.exit(main())
