"""The GPU checks of issue 33, in one run of at most about 8 minutes on one GPU; prints one table.

    .venv/bin/python benchmarks/gpu_check.py            # here: prints the "no GPU" line and exits 0
    benchmarks/gpu_check.sh                             # on a machine with a GPU (installs nothing)

On a GPU it checks, in this order, each row of the table it prints:
  1. the test suite's GPU-marked tests (`pytest -m gpu`);
  2. standalone, and md-gan, fl-gan, sync-dp and fe-gan with 4 workers as processes sharing the GPU (gloo through
     host memory): each finishes, its bytes per kind equal the same run's on the CPU (the simulation, same seed),
     and its peak GPU memory per process (summary.json) against the up-front estimate (distgan/gpus.py);
  3. the batched simulation (methods/batched.py): md-gan and fl-gan at N = 64 and 256, seconds per generator
     update batched and in a loop (from the first logged update to the last);
  4. a short mnist5k study (standalone, fl-gan, md-gan; N = 4; 3 seeds) through `distgan compare`.
Results: benchmarks/results/gpu_check.json and .md; record the device and the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import common
import torch

ROOT = Path(__file__).resolve().parents[1]
NO_GPU = "no GPU: torch.cuda.is_available() is False here, so there is nothing to check; run this on a CUDA machine"
SHARED_METHODS = ("standalone", "md-gan", "fl-gan", "sync-dp", "fe-gan")


def with_src() -> dict[str, str]:
    """The environment, with this checkout's src first on the path (and what was on it kept: carried wheels)."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT / "src") + (os.pathsep + path if path else "")}


def distgan(*args: str, timeout: float) -> tuple[int, float, str]:
    """Run `python -m distgan ARGS`; (exit code, seconds, the last lines it printed)."""
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "distgan", *args], capture_output=True, text=True,
                              timeout=timeout, env=with_src())
        code, text = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        code, text = 124, "timed out"
    return code, time.monotonic() - start, "\n".join(text.strip().splitlines()[-3:])


def summary(out: Path) -> dict:
    path = out / "summary.json"
    return json.loads(path.read_text()) if path.exists() else {}


def per_kind(s: dict) -> dict:
    return {rank: v for rank, v in s.get("bytes", {}).get("per_rank", {}).items()}


def shared_gpu_rows(out: Path, steps: int, device: str) -> list[list]:
    from distgan.config import RunConfig
    from distgan.data.registry import load_dataset
    from distgan.gpus import GiB, estimate_rank_bytes
    from distgan.models import build_models

    dataset = load_dataset("digits")
    config = RunConfig(method="md-gan", dataset="digits", workers=4).validate().resolved(dataset)
    G, D = build_models(dataset.sample_shape, config.z_dim, width=config.width, g_depth=config.g_depth)
    estimate_mb = estimate_rank_bytes(G, D, config.z_dim, dataset.sample_shape, config.batch_size) / 2**20
    rows = []
    for method in SHARED_METHODS:
        workers = "1" if method == "standalone" else "4"
        common = ["train", "--method", method, "--workers", workers, "--dataset", "digits", "--steps", str(steps),
                  "--seed", "1", "--no-progress", "--no-tensorboard", "--eval-every", "0"]
        code, seconds, tail = distgan(*common, "--backend", "process", "--device", device,
                                      "--out", str(out / f"{method}-gpu"), timeout=150)
        cpu_code, _, _ = distgan(*common, "--backend", "sim", "--device", "cpu", "--out", str(out / f"{method}-cpu"),
                                 timeout=150)
        on_gpu, on_cpu = summary(out / f"{method}-gpu"), summary(out / f"{method}-cpu")
        peaks = on_gpu.get("peak_gpu_mb") or {}
        same = code == 0 and cpu_code == 0 and per_kind(on_gpu) == per_kind(on_cpu) and bool(per_kind(on_gpu))
        place = "processes on 1 GPU" if device == "cuda" else "processes on the CPU (rehearsal)"
        rows.append([f"{method}, {workers} worker(s), {place}", "ok" if same else f"FAILED ({tail})",
                     f"{seconds:.0f} s; bytes {'equal' if same else 'differ'} to the CPU run's; peak GPU "
                     f"{max(peaks.values()) if peaks else 'n/a'} MB per process (estimate {estimate_mb:.0f} MB, "
                     f"{estimate_mb * 2**20 / GiB:.2f} GiB, CUDA context included)"])
    return rows


def batched_rows(out: Path, sizes: list[int], steps: int, device: str) -> list[list]:
    """Seconds per generator update, batched and looped, from the first logged update to the last (start-up and
    the final evaluation left out)."""
    rows = []
    for method, n in [(method, n) for method in ("md-gan", "fl-gan") for n in sizes]:
        per_update = {}
        own = ["--local-steps", str(max(1, steps // 4))] if method == "fl-gan" else []  # 4 rounds, each logged
        for mode in ("off", "on"):
            folder = out / f"batched-{method}-{n}-{mode}"
            code, seconds, tail = distgan("train", "--method", method, "--workers", str(n), "--backend", "sim",
                                          "--device", device, "--batched-sim", mode, "--dataset", "digits",
                                          "--steps", str(steps), "--log-every", "1", *own, "--no-progress",
                                          "--no-tensorboard", "--no-trace", "--eval-every", "0", "--eval-samples",
                                          "100", "--out", str(folder), timeout=200)
            per_update[mode] = seconds_per_update(folder) if code == 0 and summary(folder) else None
        loop, batched = per_update["off"], per_update["on"]
        ok = loop is not None and batched is not None
        rows.append([f"batched simulation, {method} N = {n}", "ok" if ok else "FAILED",
                     f"loop {loop:.3f} s/update, batched {batched:.3f} s/update (speed-up {loop / batched:.2f}x)"
                     if ok else "a run failed"])
    return rows


def seconds_per_update(folder: Path) -> float | None:
    """From the first logged update to the last: start-up and the final evaluation left out."""
    walls = common.read_train_walls(folder)
    if len(walls) < 2:
        return None
    (first, start), (last, end) = min(walls.items()), max(walls.items())
    return (end - start) / (last - first)


def study_row(out: Path, steps: int) -> list:
    folder = out / "mnist5k-study"
    code, seconds, tail = distgan("compare", "--dataset", "mnist5k", "--methods", "standalone,fl-gan,md-gan",
                                  "--workers", "4", "--steps", str(steps), "--seeds", "3", "--jobs", "3",
                                  "--no-progress", "--out", str(folder), timeout=300)
    report = folder / "report.md"
    return ["mnist5k study: standalone, fl-gan, md-gan, N = 4, 3 seeds", "ok" if code == 0 and report.exists()
            else f"FAILED ({tail})", f"{seconds:.0f} s; report: {report}"]


def gpu_tests_row() -> list:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-m", "gpu", str(ROOT / "tests")],
                          capture_output=True, text=True, timeout=240, cwd=ROOT,
                          env=with_src())
    last = (done.stdout.strip().splitlines() or ["no output"])[-1]
    return ["tests marked gpu (pytest -m gpu)", "ok" if done.returncode == 0 else "FAILED",
            f"{last} ({time.monotonic() - start:.0f} s)"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/bench/gpu_check", help="run folders go in a new subfolder of this, "
                        "named by the time (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=60, help="steps of each shared-GPU run (default: %(default)s)")
    parser.add_argument("--sizes", default="64,256", help="N of the batched simulation (default: %(default)s)")
    parser.add_argument("--batched-steps", type=int, default=8, help="updates timed per N (default: %(default)s)")
    parser.add_argument("--study-steps", type=int, default=200, help="the mnist5k study's budget (default: "
                        "%(default)s)")
    parser.add_argument("--rehearse-on-cpu", action="store_true", help="run every check on the CPU instead, to "
                        "rehearse the script where no GPU is (with small --steps, --sizes, --study-steps); its numbers "
                        "are not GPU results")
    args = parser.parse_args()
    common.setup_logging()
    if not torch.cuda.is_available() and not args.rehearse_on_cpu:
        print(NO_GPU)
        return 0
    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")  # a fresh folder: train refuses to reuse a run's
    where = "cpu" if args.rehearse_on_cpu else "cuda"
    device = "CPU rehearsal, not a GPU result" if args.rehearse_on_cpu else torch.cuda.get_device_name(0)
    common.log.info("device: %s, torch %s", device, torch.__version__)
    rows = [gpu_tests_row()]
    rows += shared_gpu_rows(out, args.steps, where)
    rows += batched_rows(out, [int(n) for n in args.sizes.split(",")], args.batched_steps, where)
    rows.append(study_row(out, args.study_steps))
    table = common.markdown_table(["check", "result", "numbers"], rows)
    print(f"\nDevice: {device} (torch {torch.__version__})\n\n{table}")
    name = "gpu_check_rehearsal" if args.rehearse_on_cpu else "gpu_check"
    common.write_results(name, {"machine": {**common.machine(), "gpu": device}, "rows": rows},
                         f"# GPU check\n\nDevice: {device}, torch {torch.__version__}\n\n{table}")
    return 0 if all(row[1] == "ok" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
