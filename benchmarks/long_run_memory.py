"""Does memory stay flat over a long run? Samples a training process's RSS from outside while it runs.

    .venv/bin/python benchmarks/long_run_memory.py --steps 20000 --workers 8
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("long_run_memory")
RESULTS = Path(__file__).parent / "results"


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default="md-gan")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    p.add_argument("--out", default="runs/bench/long_run_memory")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cmd = [sys.executable, "-m", "distgan", "train", "--method", args.method, "--workers", str(args.workers),
           "--backend", "sim", "--dataset", args.dataset, "--batch-size", str(args.batch_size),
           "--steps", str(args.steps), "--log-every", "500", "--sample-every", str(args.steps),
           "--checkpoint-every", "2000", "--eval-samples", "200", "--no-progress", "--out", args.out]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    while proc.poll() is None:
        mb = rss_mb(proc.pid)
        if mb is not None:
            samples.append((round(time.monotonic() - start, 1), round(mb, 1)))
        time.sleep(args.every)
    RESULTS.mkdir(exist_ok=True)
    steps_done = 0
    metrics = Path(args.out) / "metrics.jsonl"
    if metrics.is_file():
        steps_done = max(json.loads(line)["step"] for line in metrics.read_text().splitlines() if line.strip())
    after_warmup = [mb for t, mb in samples if t >= 30] or [mb for _, mb in samples]
    result = {"command": " ".join(cmd), "exit_code": proc.returncode, "steps_done": steps_done,
              "wall_s": round(time.monotonic() - start, 1), "samples": samples,
              "rss_first_after_30s_mb": after_warmup[0], "rss_last_mb": after_warmup[-1],
              "rss_max_mb": max(after_warmup)}
    (RESULTS / "long_run_memory.json").write_text(json.dumps(result, indent=2))
    rows = ["| method | workers | steps | wall s | RSS at 30 s (MB) | RSS at end (MB) | max RSS (MB) |",
            "|---|---|---|---|---|---|---|",
            f"| {args.method} (sim) | {args.workers} | {steps_done} | {result['wall_s']} | "
            f"{result['rss_first_after_30s_mb']} | {result['rss_last_mb']} | {result['rss_max_mb']} |"]
    (RESULTS / "long_run_memory.md").write_text("\n".join(rows) + "\n")
    print(RESULTS / "long_run_memory.md")


if __name__ == "__main__":
    main()
