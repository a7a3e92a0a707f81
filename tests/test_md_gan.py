"""MD-GAN's traffic against the paper's analysis, and its launch under torchrun."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from distgan import train
from distgan.models import build_models, count_parameters
from helpers import final_state, small_config

N, b, STEPS = 3, 8, 12


@pytest.mark.parametrize("k", ["1", "n"])
def test_bytes_per_iteration_and_swap_match_the_paper(tmp_path, k):
    summary = train(small_config(tmp_path, method="md-gan", workers=N, k=k, batch_size=b, steps=STEPS,
                                 swap_every=0.05, backend="sim"))
    d = 8 * 8  # digits are 1x8x8
    floats = 4  # bytes per float32
    per_rank = summary["bytes"]["per_rank"]
    server = per_rank["0"]
    # server -> each worker: 2 b d floats per iteration (X_g and X_d); each worker -> server: b d floats
    assert server["sent"]["md-gan/X_g"] + server["sent"]["md-gan/X_d"] == STEPS * N * 2 * b * d * floats
    assert server["recv"]["md-gan/feedback"] == STEPS * N * b * d * floats
    shard = 1438 / N
    swaps = STEPS // max(1, round(shard * 0.05 / b))
    assert swaps >= 2
    _, D = build_models((1, 8, 8))
    theta = count_parameters(D) * floats
    for rank in map(str, range(1, N + 1)):
        worker = per_rank[rank]
        assert worker["recv"]["md-gan/X_g"] + worker["recv"]["md-gan/X_d"] == STEPS * 2 * b * d * floats
        assert worker["sent"]["md-gan/feedback"] == STEPS * b * d * floats
        assert worker["sent"]["md-gan/swap"] == worker["recv"]["md-gan/swap"] == swaps * theta


def test_distinct_batches_even_when_k_is_1(tmp_path):
    """With k = 1 the paper generates k+1 batches so X_g and X_d differ."""
    from distgan.methods.md_gan import num_batches

    class Ctx:  # only what num_batches reads
        config = small_config(tmp_path, method="md-gan", workers=4, k="1")

    assert num_batches(Ctx) == 2
    Ctx.config = small_config(tmp_path, method="md-gan", workers=4, k="log")
    assert num_batches(Ctx) == 2  # ceil(log 4) = 2
    Ctx.config = small_config(tmp_path, method="md-gan", workers=4, k="n")
    assert num_batches(Ctx) == 4


def test_torchrun_gives_the_same_run_as_our_launcher(tmp_path):
    common = ["--method", "md-gan", "--workers", "2", "--dataset", "digits", "--steps", "6", "--batch-size", "8",
              "--seed", "5", "--eval-samples", "100", "--no-progress"]
    ours = tmp_path / "ours"
    assert subprocess.run([sys.executable, "-m", "distgan", "train", *common, "--out", str(ours)],
                          timeout=300).returncode == 0
    theirs = tmp_path / "torchrun"
    torchrun = Path(sys.executable).with_name("torchrun")  # torch installs it beside its Python
    proc = subprocess.run([torchrun, "--standalone", "--nnodes", "1", "--nproc-per-node", "3", "-m", "distgan",
                           "train", *common, "--out", str(theirs)], timeout=300, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a, c = json.loads((ours / "summary.json").read_text()), json.loads((theirs / "summary.json").read_text())
    assert a["bytes"]["per_rank"] == c["bytes"]["per_rank"]
    for name, tensor in final_state(ours)["G"].items():
        torch.testing.assert_close(tensor, final_state(theirs)["G"][name], rtol=1e-5, atol=1e-6)
