"""distgan's own launcher on the process transport: its ranks die with it, one run owns a folder, and a rank 0
that fails at start-up ends the run at once (distgan/launch.py, distgan/worker_main.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import read_jsonl

pytestmark = pytest.mark.slow
RUN = ["--method", "md-gan", "--workers", "1", "--dataset", "digits", "--batch-size", "16", "--log-every", "5",
       "--checkpoint-every", "10", "--eval-every", "0", "--eval-samples", "200", "--no-progress", "--no-tensorboard"]


def start(out: Path, steps: int, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "distgan", "train", *RUN, "--steps", str(steps), "--out", str(out), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(proc: subprocess.Popen, out: Path, step: int) -> dict[str, int]:
    """Wait until the run has logged `step`; return its ranks' pids."""
    deadline = time.time() + 180
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        try:
            logged = max((r.get("step", 0) for r in read_jsonl(out / "metrics.jsonl")), default=0)
            pids = json.loads((out / "pids.json").read_text())
        except (FileNotFoundError, ValueError):
            logged, pids = 0, {}
        if logged >= step and pids:
            return {rank: int(pid) for rank, pid in pids.items()}
        time.sleep(0.2)
    raise AssertionError(f"the run never logged step {step}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead; only its parent has not reaped it yet
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def gone_within(pids, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_sigterm_checkpoints_every_rank_at_one_step_and_the_run_resumes(tmp_path):
    """Issue 44, item 8: with no checkpoint due before the end, SIGTERM at step 20 used to kill the ranks and leave
    nothing to resume; now each rank finishes its step and writes a checkpoint at the step rank 0 names."""
    import torch

    from distgan.stopping import GRACE_S

    proc = start(tmp_path, 400, "--workers", "2", "--checkpoint-every", "1000")
    pids = wait_for_step(proc, tmp_path, 20)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-2000:]
    assert time.monotonic() - sent < GRACE_S
    assert err.strip().splitlines()[-1] == f"distgan: stopped; resume with --resume {tmp_path}"
    assert gone_within(pids.values(), 10)
    stopped = {f.name: int(torch.load(f, weights_only=False)["step"]) for f in tmp_path.glob("checkpoint*.pt")}
    assert sorted(stopped) == ["checkpoint.pt", "checkpoint_rank1.pt", "checkpoint_rank2.pt"], stopped
    (step,) = set(stopped.values())  # every rank at the one step rank 0 named
    assert 20 <= step < 40
    for left in ("summary.json", "pids.json", "launch_config.json"):
        assert not (tmp_path / left).exists(), left
    done = subprocess.run([sys.executable, "-m", "distgan", "train", "--resume", str(tmp_path), "--steps", "40",
                           "--no-progress"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["g_updates"] == 40 and summary["failures"] == []
    assert "train --resume" in summary["command"]  # the user's command, not the ranks' own
    logged = [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl") if r.get("type") == "train"]
    assert logged == sorted(set(logged)) and logged[-1] == 40  # the steps after the stop once each


def test_ranks_die_with_a_launcher_killed_by_sigkill(tmp_path):
    proc = start(tmp_path, 100_000)  # far longer than the test: only the launcher's death can stop the ranks
    pids = wait_for_step(proc, tmp_path, 10)
    try:
        proc.kill()
        proc.wait(timeout=30)
        assert gone_within(pids.values(), 10)
    finally:  # never leave a rank behind, whatever the code under test does
        for pid in pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()


def test_a_second_run_on_a_held_folder_is_refused_and_changes_nothing(tmp_path):
    """The first run is stood in for by the lock it would hold (run_guard.owned), so the test cannot race it;
    tests/test_run_guard.py shows the holder is untouched, and the issue's two real runs are in the closing note."""
    from distgan import run_guard

    command = [sys.executable, "-m", "distgan", "train", *RUN, "--steps", "4", "--out", str(tmp_path)]
    with run_guard.owned(tmp_path):
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert second.stderr.strip() == (f"distgan: error: --out {tmp_path} is in use by another distgan run; "
                                         "wait for it to finish, or pick another --out")
        assert list(tmp_path.iterdir()) == []
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)  # released: it runs
    assert again.returncode == 0, again.stderr[-2000:]


def test_a_rank_0_that_cannot_start_ends_the_run_at_once(tmp_path):
    with socket.socket() as taken:  # the port the user asked for is in use
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        began = time.monotonic()
        proc = start(tmp_path, 30, "--master-port", str(port))
        _, err = proc.communicate(timeout=120)
        seconds = time.monotonic() - began
    assert proc.returncode == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("distgan: error: rank 0 exited with code") and "Traceback" not in last
    assert seconds < 30, f"{seconds:.0f} s"
