"""Issue 44, item 8: SIGTERM and Ctrl-C stop a run after a whole checkpoint of every rank at one step, so that
--resume goes on from there (over processes: tests/methods/test_launcher.py); resume advice only where a
checkpoint exists; a SIGKILLed launcher's files go at the next start."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from distgan import run_folder
from distgan.stopping import GRACE_S
from helpers import read_jsonl


def _steps_logged(out: Path) -> int:
    try:
        return max((x["step"] for x in read_jsonl(out / "metrics.jsonl")), default=0)
    except (FileNotFoundError, ValueError):
        return 0


def _train_and_signal(out: Path, sig: int, at_step: int, extra: list[str]) -> tuple[subprocess.CompletedProcess,
                                                                                    float]:
    """`distgan train` (checkpoints only at the end), sent `sig` once it has logged `at_step`; returns the
    finished process and how long it took to exit after the signal."""
    cmd = [sys.executable, "-m", "distgan", "train", "--dataset", "digits", "--batch-size", "16", "--log-every", "2",
           "--checkpoint-every", "1000", "--eval-samples", "200", "--no-progress", "--no-tensorboard",
           "--out", str(out), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while _steps_logged(out) < at_step:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    sent = time.monotonic()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), time.monotonic() - sent


def _checkpoint_steps(out: Path) -> dict[str, int]:
    return {f.name: int(torch.load(f, weights_only=False)["step"]) for f in sorted(out.glob("checkpoint*.pt"))}


@pytest.mark.slow
def test_ctrl_c_stops_a_simulated_run_at_a_checkpoint(tmp_path):
    """The simulation runs every rank in the launcher's process: Ctrl-C stops them all at one step too."""
    done, took = _train_and_signal(tmp_path, signal.SIGINT, 6, ["--method", "sync-dp", "--workers", "2",
                                                                "--steps", "400", "--backend", "sim"])
    assert done.returncode == 130, done.stderr[-3000:]
    assert took < GRACE_S
    stopped = _checkpoint_steps(tmp_path)
    assert set(stopped) == {"checkpoint.pt", "checkpoint_rank1.pt"}
    (step,) = set(stopped.values())
    assert 6 <= step < 400
    assert f"resume with --resume {tmp_path}" in done.stderr.splitlines()[-1]


@pytest.mark.parametrize("with_checkpoint", [True, False])
def test_resume_is_advised_only_where_a_checkpoint_exists(tmp_path, with_checkpoint):
    from distgan.cli import _after_stop

    if with_checkpoint:
        (tmp_path / run_folder.CHECKPOINT).write_bytes(b"")
    advice = _after_stop(argparse.Namespace(command="train", out=str(tmp_path), resume=None))
    if with_checkpoint:
        assert advice == f"; resume with --resume {tmp_path}"
    else:
        assert "--resume" not in advice and "nothing to resume" in advice


def test_a_killed_launchers_files_are_removed_when_the_folder_is_used_again(tmp_path):
    """A launcher killed by SIGKILL leaves launch_config.json and pids.json naming processes that are gone; the
    next run in the folder removes them, whatever its backend (a simulated run writes neither)."""
    from distgan import train
    from helpers import small_config

    train(small_config(tmp_path, method="standalone", steps=2))  # the folder's earlier run
    (tmp_path / run_folder.LAUNCH_CONFIG).write_text("{}")
    (tmp_path / run_folder.PIDS).write_text(json.dumps({"0": 999999}))
    train(small_config(tmp_path, method="standalone", steps=2))
    assert not (tmp_path / run_folder.LAUNCH_CONFIG).exists() and not (tmp_path / run_folder.PIDS).exists()


def test_sigterm_ends_a_study_whose_cells_run_side_by_side(tmp_path):
    """The process pool used to finish every queued cell before `distgan compare` exited: SIGTERM now cancels the
    queue and ends the running cells (each resumes from its checkpoint next time), with no process left behind."""
    out = tmp_path / "study"
    cmd = [sys.executable, "-m", "distgan", "compare", "--dataset", "ring8", "--methods", "standalone,fl-gan",
           "--seeds", "3", "--steps", "5000", "--batch-size", "16", "--jobs", "2", "--no-estimate", "--no-progress",
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while sum(_steps_logged(cell) > 0 for cell in out.glob("*_s*")) < 2:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    signalled = time.time()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-3000:]
    assert time.time() - signalled < 30
    assert "distgan: terminated" in err
    started = [cell.name for cell in out.glob("*_s*")]
    assert len(started) == 2 and not any((out / c / "summary.json").exists() for c in started)  # 4 never began
    left = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(proc.pid)], capture_output=True, text=True).stdout
    alive = [line for line in left.splitlines() if "<defunct>" not in line]  # a zombie has exited already
    assert alive == [], left  # no worker of the pool is left running in the study's process group
