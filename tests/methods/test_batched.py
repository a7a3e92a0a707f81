"""The batched simulation (methods/batched.py) equals the loop it replaces, within float tolerance."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from distgan import train
from distgan.methods.batched import batchable, gan_steps, md_gan_worker_steps
from distgan.methods.common import Batches, Gan, gan_step
from distgan.methods.md_gan import worker_step
from distgan.models import build_models
from distgan.models.losses import get_losses
from distgan.transport.trace import NULL_TRACE
from helpers import read_jsonl, small_config

N, B, L = 3, 16, 2
SHAPE = (1, 8, 8)


def workers(seed: int) -> list[tuple[Gan, Batches]]:
    """N md-gan workers: each its own D (drawn apart) with an Adam that has stepped once, and its own batches."""
    torch.manual_seed(seed)
    data = torch.randn(200, *SHAPE)
    d_loss, g_loss = get_losses("bce")
    out = []
    for n in range(N):
        _, D = build_models(SHAPE, with_G=False)
        opt = torch.optim.Adam(D.parameters(), 4e-4, betas=(0.5, 0.999))
        D(torch.randn(4, *SHAPE)).mean().backward()  # a first step, so Adam's moments are not zero
        opt.step()
        rng = torch.Generator().manual_seed(100 + n)
        out.append((Gan(None, D, None, opt, 64, d_loss, g_loss), Batches(data, torch.arange(n * 50, n * 50 + 50),
                                                                           B, rng, torch.device("cpu"))))
    return out


def test_batched_md_gan_worker_steps_equal_the_loop():
    looped, batched = workers(0), workers(0)
    for a, b in zip(looped, batched):  # the same start, drawn once
        assert all(torch.equal(p, q) for p, q in zip(a[0].D.parameters(), b[0].D.parameters()))
    ctx = SimpleNamespace(trace=NULL_TRACE, options=SimpleNamespace(disc_steps=L), privacy=None)
    for iteration in range(3):
        g = torch.Generator().manual_seed(iteration)
        X = [(torch.randn(B, *SHAPE, generator=g), torch.randn(B, *SHAPE, generator=g)) for _ in range(N)]
        expected = [worker_step(ctx, gan, real, X_g, X_d) for (gan, real), (X_g, X_d) in zip(looped, X)]
        got = md_gan_worker_steps([(gan, real, X_g, X_d, L) for (gan, real), (X_g, X_d) in zip(batched, X)])
        for (loss_D, loss_G, F_n), (b_loss_D, b_loss_G, b_F_n) in zip(expected, got):
            torch.testing.assert_close(b_loss_D, loss_D, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(b_loss_G, loss_G, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(b_F_n, F_n, rtol=1e-4, atol=1e-7)
            assert F_n.abs().max() > 0  # a real feedback, not an empty one
    for (a, _), (b, _) in zip(looped, batched):
        for p, q in zip(a.D.parameters(), b.D.parameters()):
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-6)
            for key in ("exp_avg", "exp_avg_sq"):
                torch.testing.assert_close(b.opt_D.state[q][key], a.opt_D.state[p][key], rtol=1e-3, atol=1e-8)
    moved = sum((p - q).abs().sum() for p, q in zip(workers(0)[0][0].D.parameters(), looped[0][0].D.parameters()))
    assert moved > 0  # the steps changed D: the comparison is not of two untouched copies


def clients(seed: int) -> list[Gan]:
    """N federated clients: each its own G (with BatchNorm) and D, drawn apart, with fresh Adams."""
    torch.manual_seed(seed)
    d_loss, g_loss = get_losses("bce")
    out = []
    for _ in range(N):
        G, D = build_models(SHAPE, 64)
        out.append(Gan(G, D, torch.optim.Adam(G.parameters(), 4e-4, betas=(0.5, 0.999)),
                       torch.optim.Adam(D.parameters(), 4e-4, betas=(0.5, 0.999)), 64, d_loss, g_loss))
    return out


@pytest.fixture
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def test_batched_local_steps_of_federated_clients_equal_the_loop(float64):
    """fl-gan's and fe-gan's local step (common.gan_step) for 3 clients, 4 steps: losses, weights, Adam's moments
    and G's BatchNorm running statistics all as in the loop. In float64: in float32, Adam scales the rounding noise
    of gradients that BatchNorm makes near zero up to a whole step, and how much differs by CPU (on an AMD EPYC VM
    1 to 4% of G's weights differed by up to 2.9e-4)."""
    looped, batched = clients(1), clients(1)
    for step in range(4):
        g = torch.Generator().manual_seed(step)
        data = [(torch.randn(B, *SHAPE, generator=g), torch.randn(B, 64, generator=g)) for _ in range(N)]
        expected = [gan_step(gan, x, z) for gan, (x, z) in zip(looped, data)]
        got = gan_steps([(gan, x, z) for gan, (x, z) in zip(batched, data)])
        for (loss_D, loss_G), (b_loss_D, b_loss_G) in zip(expected, got):
            torch.testing.assert_close(b_loss_D, loss_D, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(b_loss_G, loss_G, rtol=1e-5, atol=1e-6)
    for a, b in zip(looped, batched):
        for module in ("G", "D"):
            mine, theirs = getattr(a, module), getattr(b, module)
            for (name, p), q in zip(mine.named_parameters(), theirs.parameters()):
                # atol 1e-5, a fortieth of one Adam step (lr 4e-4): where a gradient is rounding noise (a few of
                # G's first layer, whose output BatchNorm normalises), Adam scales that noise up to a step
                torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=name)
                optimizer_a, optimizer_b = (a.opt_G, b.opt_G) if module == "G" else (a.opt_D, b.opt_D)
                torch.testing.assert_close(optimizer_b.state[q]["exp_avg_sq"], optimizer_a.state[p]["exp_avg_sq"],
                                           rtol=1e-3, atol=1e-8)
            for (name, buffer), theirs_buffer in zip(mine.named_buffers(), theirs.buffers()):
                torch.testing.assert_close(theirs_buffer, buffer, rtol=1e-4, atol=1e-6, msg=name)
    running = [b for name, b in looped[0].G.named_buffers() if name.endswith("running_mean")]
    assert running and running[0].abs().sum() > 0  # BatchNorm's statistics moved: they were compared for real


def test_batchable_refuses_dp_and_spectral_norm():
    _, D = build_models(SHAPE, with_G=False)
    _, D_sn = build_models(SHAPE, with_G=False, spectral_norm=True)
    assert batchable(D, None)
    assert not batchable(D, object())  # a worker with DP-SGD
    assert not batchable(D_sn, None)


def batched_and_looped(tmp_path, method: str) -> dict[str, dict]:
    """The same simulated run with --batched-sim off and on: each summary, with its logged losses and the compute
    phases of its trace; the two hold the same bytes per kind and the same losses within float tolerance."""
    runs = {}
    for mode in ("off", "on"):
        out = tmp_path / mode
        runs[mode] = train(small_config(out, method=method, workers=3, backend="sim", steps=12, batched_sim=mode))
        runs[mode]["losses"] = [(r["loss_d"], r["loss_g"]) for r in read_jsonl(out / "metrics.jsonl")
                                if r["type"] == "train"]
        runs[mode]["phases"] = {op[1] for r in read_jsonl(out / "trace.jsonl") for op in r["ops"] if op[0] == "c"}
    assert runs["on"]["bytes"] == runs["off"]["bytes"]
    assert len(runs["on"]["losses"]) == len(runs["off"]["losses"]) >= 2
    for on, off in zip(runs["on"]["losses"], runs["off"]["losses"]):
        assert on == pytest.approx(off, rel=1e-3, abs=1e-4)
    return runs


def test_a_batched_simulated_md_gan_run_matches_the_loop(tmp_path):
    runs = batched_and_looped(tmp_path, "md-gan")
    assert "worker steps, batched" in runs["on"]["phases"] and "worker D steps" not in runs["on"]["phases"]
    assert "worker D steps" in runs["off"]["phases"]


@pytest.mark.parametrize("method", ["fl-gan", "fe-gan"])
def test_a_batched_simulated_federated_run_matches_the_loop(tmp_path, method):
    runs = batched_and_looped(tmp_path, method)
    assert runs["on"]["final_eval"]["fid"] == pytest.approx(runs["off"]["final_eval"]["fid"], rel=1e-2)
    assert "worker local steps, batched" in runs["on"]["phases"]
    assert "worker local steps" in runs["off"]["phases"]
