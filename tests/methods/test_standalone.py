"""The standalone baseline: the run folder it writes, and resuming after a hard kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from distgan import train
from distgan.checkpoint import load_checkpoint
from helpers import read_jsonl, small_config


def test_writes_the_five_files_and_a_scatter_for_points(tmp_path):
    summary = train(small_config(tmp_path, dataset="ring8", steps=30, sample_every=10, log_every=10))
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "summary.json"):
        assert (tmp_path / name).is_file()
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "step_000010.png", "step_000020.png", "step_000030.png"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["dataset"] == "ring8" and config["steps"] == 30
    evals = [x for x in read_jsonl(tmp_path / "metrics.jsonl") if x["type"] == "eval"]
    assert evals[-1]["num_modes"] == 8 and 0 <= evals[-1]["modes_captured"] <= 8
    assert summary["params"]["G"] > 0 and summary["g_updates"] == 30
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 30


def test_same_seed_same_numbers(tmp_path):
    a = train(small_config(tmp_path / "a", steps=6))
    b = train(small_config(tmp_path / "b", steps=6))
    assert a["final_eval"]["fid"] == b["final_eval"]["fid"]
    ga, gb = load_checkpoint(tmp_path / "a/checkpoint.pt")["G"], load_checkpoint(tmp_path / "b/checkpoint.pt")["G"]
    assert all(torch.equal(ga[k], gb[k]) for k in ga)


def test_resume_after_sigkill_continues_from_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "distgan", "train", "--dataset", "ring8", "--steps", "100000", "--batch-size", "16",
           "--checkpoint-every", "20", "--log-every", "10", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not _checkpoint_at_least(out, 40):
            time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    saved = load_checkpoint(out / "checkpoint.pt")["step"]
    assert saved >= 40 and saved % 20 == 0
    assert not (out / "summary.json").exists()
    assert not list(out.glob(".checkpoint.pt.*"))  # no temp file left looking like a checkpoint

    resumed = subprocess.run([sys.executable, "-m", "distgan", "train", "--resume", str(out),
                              "--steps", str(saved + 30), "--no-progress"], capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    steps = [x["step"] for x in read_jsonl(out / "metrics.jsonl") if x["type"] == "train"]
    after = steps[steps.index(saved) + 1:] if saved in steps else [s for s in steps if s > saved]
    assert after[0] == saved + 10 and after[-1] == saved + 30
    assert load_checkpoint(out / "checkpoint.pt")["step"] == saved + 30
    assert json.loads((out / "summary.json").read_text())["steps"] == saved + 30


def _checkpoint_at_least(out: Path, step: int) -> bool:
    try:
        return load_checkpoint(out / "checkpoint.pt")["step"] >= step
    except Exception:  # not written yet
        return False
