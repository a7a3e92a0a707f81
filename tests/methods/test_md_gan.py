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


@pytest.mark.parametrize("k,swap_adam,generation", [("1", "reset", "per-batch"), ("n", "reset", "per-batch"),
                                                     ("1", "carry", "per-batch"), ("n", "reset", "joint")])
def test_bytes_per_iteration_and_swap_match_the_paper(tmp_path, k, swap_adam, generation):
    summary = train(small_config(tmp_path, method="md-gan", workers=N, k=k, batch_size=b, steps=STEPS,
                                 swap_every=0.05, backend="sim", swap_adam=swap_adam, md_generation=generation))
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
    moments = 2 * theta if swap_adam == "carry" else 0  # carry: Adam's two moments, as their own kind
    for rank in map(str, range(1, N + 1)):
        worker = per_rank[rank]
        assert worker["recv"]["md-gan/X_g"] + worker["recv"]["md-gan/X_d"] == STEPS * 2 * b * d * floats
        assert worker["sent"]["md-gan/feedback"] == STEPS * b * d * floats
        assert worker["sent"]["md-gan/swap"] == worker["recv"]["md-gan/swap"] == swaps * theta
        assert worker["sent"].get("md-gan/swap-adam", 0) == worker["recv"].get("md-gan/swap-adam", 0) == swaps * moments


@pytest.mark.parametrize("k,distinct", [("1", 1), ("2", 2), ("n", 4)])
def test_k_is_the_number_of_distinct_X_g_batches(tmp_path, monkeypatch, k, distinct):
    """Section IV-B4: k = 1 gives every worker the same X_g, k = N each its own; X_d always differs from X_g."""
    from distgan.transport.base import Transport

    sent: dict[str, dict[int, torch.Tensor]] = {"md-gan/X_g": {}, "md-gan/X_d": {}}
    original = Transport.send

    def spy(self, tensor, dst, kind):
        if kind in sent:
            sent[kind].setdefault(dst, tensor.detach().clone())  # the first iteration's batches
        original(self, tensor, dst, kind)

    monkeypatch.setattr(Transport, "send", spy)
    train(small_config(tmp_path, method="md-gan", workers=4, k=k, steps=1, backend="sim"))
    X_g, X_d = sent["md-gan/X_g"], sent["md-gan/X_d"]
    assert sorted(X_g) == sorted(X_d) == [1, 2, 3, 4]
    unique = []
    for tensor in X_g.values():
        if not any(torch.equal(tensor, u) for u in unique):
            unique.append(tensor)
    assert len(unique) == distinct
    assert not any(torch.equal(X_g[r], X_d[r]) for r in X_g)


def test_swap_adam_carry_moves_the_moments_with_D(tmp_path):
    """After one iteration and a swap, worker 1 holds what worker 2 had: its D, and with carry its Adam moments."""
    cfg = dict(method="md-gan", workers=2, steps=1, backend="sim", checkpoint_every=1)
    runs = {"none": dict(swap_every=1000.0), "carry": dict(swap_every=1e-9, swap_adam="carry"),
            "reset": dict(swap_every=1e-9, swap_adam="reset")}
    state = {}
    for name, extra in runs.items():
        train(small_config(tmp_path / name, **cfg, **extra))
        state[name] = {r: torch.load(tmp_path / name / f"checkpoint_rank{r}.pt", weights_only=True) for r in (1, 2)}
    before = state["none"][2]  # worker 2 after its D step, had nothing been swapped
    for name in ("carry", "reset"):
        for key, tensor in before["D"].items():
            assert torch.equal(state[name][1]["D"][key], tensor), (name, key)
    carried = state["carry"][1]["opt_D"]["state"]
    for index, moments in before["opt_D"]["state"].items():
        assert torch.equal(carried[index]["exp_avg"], moments["exp_avg"])
        assert torch.equal(carried[index]["exp_avg_sq"], moments["exp_avg_sq"])
    assert state["reset"][1]["opt_D"]["state"] == {}


@pytest.mark.slow
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


@pytest.mark.parametrize("k,generation,sizes", [("n", "per-batch", [8, 8, 8]), ("1", "per-batch", [8, 8]),
                                                ("n", "joint", [24]), ("1", "joint", [16])])
def test_G_batchnorm_sees_b_samples_per_forward(tmp_path, monkeypatch, k, generation, sizes):
    """Algorithm 1 generates each X^(j) = G(Z_j) on its own, so every BatchNorm of G normalises over b = 8
    samples, K times an iteration (K = 3 with k = n = 3; K = 2 with k = 1: X_g and the extra X_d); `joint`
    is one pass of K b. Evaluation (no grad) is left out."""
    from distgan.methods import md_gan

    seen: dict[str, list[int]] = {}
    original = md_gan.build_gan

    def spy(ctx, with_G=True):
        gan = original(ctx, with_G)
        for name, m in (gan.G.named_modules() if gan.G is not None else ()):
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.register_forward_pre_hook(lambda _, args, name=name: seen.setdefault(name, []).append(
                    args[0].shape[0]) if torch.is_grad_enabled() else None)
        return gan

    monkeypatch.setattr(md_gan, "build_gan", spy)
    train(small_config(tmp_path, method="md-gan", workers=N, k=k, batch_size=b, steps=2, backend="sim",
                       md_generation=generation))
    assert len(seen) >= 2  # the digits G has a BatchNorm1d and a BatchNorm2d at least
    for name, batch_sizes in seen.items():
        assert batch_sizes == sizes * 2, name  # two iterations


def test_per_batch_X_j_depends_on_Z_j_alone():
    """Per batch, X^(j) is G(Z_j) as if generated alone, whatever the other batches' noise; in one joint pass
    BatchNorm's statistics mix the batches, so changing Z_2 changes X^(1)."""
    from distgan.methods.md_gan import generate

    torch.manual_seed(0)
    G, _ = build_models((1, 8, 8), z_dim=16)
    G.train()
    Z = torch.randn(3, b, 16)
    Z_other = Z.clone()
    Z_other[1:] = torch.randn(2, b, 16)
    with torch.no_grad():
        X, X_other = generate(G, Z, "per-batch"), generate(G, Z_other, "per-batch")
        alone = [G(Z_j) for Z_j in Z]
        joint, joint_other = generate(G, Z, "joint"), generate(G, Z_other, "joint")
    assert X.shape == joint.shape == (3, b, 1, 8, 8)
    for j in range(3):
        torch.testing.assert_close(X[j], alone[j], rtol=0, atol=1e-6)
    torch.testing.assert_close(X[0], X_other[0], rtol=0, atol=1e-6)  # X^(1) ignores Z_2, Z_3
    assert (joint[0] - joint_other[0]).abs().max() > 1e-3  # joint: X^(1) moves with Z_2, Z_3
    assert (joint[0] - X[0]).abs().max() > 1e-3  # and differs from Algorithm 1's X^(1)


def test_a_lone_survivor_still_gets_its_swap_plan(tmp_path):
    """Two of three workers die at once; the survivor waits for a plan at every swap and must be sent one
    (keep your D). Before the fix it read the next X_g as its plan (found by benchmarks/multinode_check.py
    when a whole host of two workers was lost)."""
    from distgan import train
    from helpers import read_summary, small_config

    train(small_config(tmp_path, method="md-gan", workers=3, backend="sim", steps=12, swap_every=0.05,
                       fail=["2@4", "3@4"]))
    summary = read_summary(tmp_path)
    assert summary["g_updates"] == 12
    assert sorted(f["rank"] for f in summary["failures"]) == [2, 3]
