"""Slow is not dead: a worker stopped (SIGSTOP) past the heartbeat timeout is dropped as hung, one stopped
for less is kept, and a straggler that keeps beating is never dropped. Real processes and the simulation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distgan import train
from helpers import read_jsonl, small_config

HEARTBEAT = 2.0


def _last_step(out: Path) -> int:
    try:
        return max((x["step"] for x in read_jsonl(out / "metrics.jsonl")), default=0)
    except (FileNotFoundError, ValueError):
        return 0


def train_and_stop(out: Path, stop_s: float, at_step: int = 30,
                   steps: int = 400) -> tuple[subprocess.CompletedProcess, float]:
    """md-gan, 3 workers on digits as processes; SIGSTOP rank 2 at `at_step` for `stop_s`, then SIGCONT."""
    cmd = [sys.executable, "-m", "distgan", "train", "--method", "md-gan", "--workers", "3", "--dataset", "digits",
           "--steps", str(steps), "--batch-size", "16", "--log-every", "10", "--checkpoint-every", "1000",
           "--eval-samples", "200", "--no-progress", "--no-tensorboard", "--heartbeat-timeout", str(HEARTBEAT),
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and _last_step(out) < at_step:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.1)
    pid = json.loads((out / "pids.json").read_text())[str(2)]
    stopped_at = time.time()
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(stop_s)
    finally:
        os.kill(pid, signal.SIGCONT)
    stdout, stderr = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), stopped_at


@pytest.mark.slow
def test_a_stopped_worker_is_dropped_as_hung_within_the_heartbeat_timeout(tmp_path):
    done, stopped_at = train_and_stop(tmp_path, 3 * HEARTBEAT)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    (failure,) = summary["failures"]
    assert failure["rank"] == 2 and failure["kind"] == "hung", failure
    assert 0 < failure["at_unix_s"] - stopped_at <= HEARTBEAT + 2, failure
    workers = summary["liveness"]["workers"]
    assert workers.pop("2") == "hung"
    assert set(workers.values()) <= {"alive", "slow"}  # a peer may have waited on rank 2 in a D swap
    assert _last_step(tmp_path) == summary["g_updates"] == 400
    assert "worker exit codes: [0, 18, 0]" in done.stderr  # rank 2 woke, read that it was dropped, and left


@pytest.mark.slow
def test_a_worker_stopped_for_less_than_the_timeout_is_kept(tmp_path):
    done, _ = train_and_stop(tmp_path, HEARTBEAT / 2, steps=200)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["failures"] == []
    assert summary["liveness"]["workers"]["2"] in ("alive", "slow")
    assert "2" in summary["bytes"]["per_rank"]


@pytest.mark.parametrize("hang_s, dropped", [(3 * HEARTBEAT / 2, True), (HEARTBEAT / 4, False)])
def test_simulated_hang_is_dropped_only_past_the_timeout(tmp_path, hang_s, dropped):
    timeout = HEARTBEAT / 2
    summary = train(small_config(tmp_path, method="md-gan", workers=3, steps=12, backend="sim",
                                 heartbeat_timeout=timeout, hang=[f"2@4:{hang_s}"]))
    assert summary["g_updates"] == 12
    if dropped:
        (failure,) = summary["failures"]
        assert failure["rank"] == 2 and failure["kind"] == "hung" and failure["step"] == 4
        assert timeout <= failure["silent_s"] <= timeout + 1
        assert summary["liveness"]["workers"]["2"] == "hung"
    else:
        assert summary["failures"] == []
