"""Worker crashes on the real process transport: a SIGKILL from outside, and --fail in the simulation."""

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

pytestmark = pytest.mark.slow


def train_and_kill(out: Path, method: str, kill_rank: int, at_step: int, steps: int) -> subprocess.CompletedProcess:
    """Run `distgan train` as a user would, SIGKILL one worker mid-run, and let the run finish."""
    cmd = [sys.executable, "-m", "distgan", "train", "--method", method, "--workers", "3", "--dataset", "digits",
           "--steps", str(steps), "--batch-size", "16", "--log-every", "5", "--checkpoint-every", "20",
           "--eval-samples", "200", "--no-progress", "--out", str(out)]
    if method in ("fl-gan", "fe-gan"):
        cmd += ["--local-steps", "5"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and _last_step(out) < at_step:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.2)
    pid = json.loads((out / "pids.json").read_text())[str(kill_rank)]
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def _last_step(out: Path) -> int:
    try:
        return max((x["step"] for x in read_jsonl(out / "metrics.jsonl")), default=0)
    except (FileNotFoundError, ValueError):
        return 0


@pytest.mark.parametrize("method", ["md-gan", "fl-gan", "fe-gan"])
def test_server_methods_survive_a_killed_worker(tmp_path, method):
    done = train_and_kill(tmp_path, method, kill_rank=2, at_step=20, steps=120)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["g_updates"] == 120
    assert [f["rank"] for f in summary["failures"]] == [2]
    assert summary["failures"][0]["step"] >= 20
    assert "2" not in summary["bytes"]["per_rank"]  # a dead worker sends no final report


def test_sync_dp_restarts_from_its_checkpoint_with_the_survivors(tmp_path):
    done = train_and_kill(tmp_path, "sync-dp", kill_rank=2, at_step=45, steps=100)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["workers"] == 2 and summary["g_updates"] == 100
    (failure,) = summary["failures"]
    assert failure["rank"] == 2 and failure["step"] >= 40 and failure["step"] % 20 == 0
    assert f"restarted from checkpoint step {failure['step']} with 2 workers" in failure["what"]
    # the steps it logged past the checkpoint before the kill were dropped at the restart, which redid them
    steps = [x["step"] for x in read_jsonl(tmp_path / "metrics.jsonl") if x["type"] == "train"]
    assert steps == list(range(5, 101, 5))


@pytest.mark.parametrize("method", ["md-gan", "fl-gan", "fe-gan", "async-ps"])
def test_simulated_crash_is_dropped_and_listed(tmp_path, method):
    summary = train(small_config(tmp_path, method=method, workers=3, steps=12, fail=["2@2"], backend="sim"))
    assert summary["g_updates"] == 12
    assert [f["rank"] for f in summary["failures"]] == [2]


def test_simulated_sync_dp_crash_restarts(tmp_path):
    summary = train(small_config(tmp_path, method="sync-dp", workers=3, steps=12, checkpoint_every=4,
                                 fail=["1@6"], backend="sim"))
    assert summary["workers"] == 2
    assert summary["failures"][0]["rank"] == 1 and summary["failures"][0]["step"] == 4
