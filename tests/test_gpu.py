"""Checks that need a CUDA GPU (`pytest -m gpu`; benchmarks/gpu_check.sh runs them). Skipped without one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from distgan import train
from helpers import small_config

ROOT = Path(__file__).resolve().parents[1]
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
pytestmark = [pytest.mark.gpu, needs_gpu]


def test_processes_sharing_one_gpu_count_the_bytes_of_the_cpu(tmp_path):
    """md-gan's 3 processes on one GPU (gloo through host memory) move what the simulation on the CPU moves, and
    each reports its peak GPU memory."""
    on_gpu = train(small_config(tmp_path / "gpu", method="md-gan", workers=2, backend="process", device="cuda"))
    on_cpu = train(small_config(tmp_path / "cpu", method="md-gan", workers=2, backend="sim", device="cpu"))
    assert on_gpu["bytes"]["per_rank"] == on_cpu["bytes"]["per_rank"]
    assert on_gpu["device"].startswith("cuda") and on_cpu["peak_gpu_mb"] is None
    assert set(on_gpu["peak_gpu_mb"]) == {"0", "1", "2"} and min(on_gpu["peak_gpu_mb"].values()) > 0
    assert on_gpu["machine"]["gpu"] == torch.cuda.get_device_name(0)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL needs a GPU per process: 2 GPUs")
def test_nccl_with_a_gpu_per_process_counts_the_bytes_of_gloo(tmp_path):
    on_gpus = train(small_config(tmp_path / "gpu", method="sync-dp", workers=2, backend="process", device="cuda"))
    on_cpu = train(small_config(tmp_path / "cpu", method="sync-dp", workers=2, backend="process", device="cpu"))
    assert on_gpus["bytes"]["per_rank"] == on_cpu["bytes"]["per_rank"]


def test_the_batched_simulation_on_a_gpu_matches_the_loop(tmp_path):
    runs = {mode: train(small_config(tmp_path / mode, method="md-gan", workers=4, backend="sim", device="cuda",
                                     batched_sim=mode)) for mode in ("off", "on")}
    assert runs["on"]["bytes"] == runs["off"]["bytes"]
    assert runs["on"]["final_eval"]["fid"] == pytest.approx(runs["off"]["final_eval"]["fid"], rel=0.05)


def test_gpu_check_script_finds_the_gpu():
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "no GPU" not in done.stdout
