"""Differential privacy (distgan/privacy.py): DP-SGD on each worker's D through Opacus, with its accountant."""

from __future__ import annotations

import json

import pytest
import torch

from distgan import privacy
from distgan.errors import DistganError
from distgan.models import build_models
from distgan.models.losses import D_TERMS, get_losses
from helpers import read_jsonl, read_summary, refused, run_cli

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (2,)]


@pytest.mark.parametrize("shape", SHAPES)
def test_opacus_validator_accepts_every_discriminator(shape):
    """No BatchNorm (or anything else that mixes records) in any D distgan builds."""
    _, D = build_models(shape, 8 if shape == (2,) else 64)
    assert privacy.check_discriminator(D) == []


def budget(noise: float, clip: float) -> privacy.Budget:
    return privacy.Budget(epsilon=1.0, delta=1e-5, clip=clip, noise_multiplier=noise, sample_rate=0.1, d_steps=10,
                          records=320)


def d_and_batches(seed: int = 0):
    torch.manual_seed(seed)
    _, D = build_models((1, 8, 8), 64)
    return D, torch.optim.Adam(D.parameters(), 1e-3), torch.randn(32, 1, 8, 8), torch.randn(32, 1, 8, 8)


@pytest.mark.parametrize("loss", ["bce", "hinge", "lsgan"])
def test_without_noise_or_clipping_it_is_the_plain_gradient(loss):
    D, opt, real, fake = d_and_batches()
    d_loss, _ = get_losses(loss)
    plain_loss = d_loss(D(real), D(fake))
    plain = torch.autograd.grad(plain_loss, list(D.parameters()))
    private_loss = privacy.private_d_backward(D, opt, *D_TERMS[loss], real, fake, budget(0.0, 1e9),
                                              torch.Generator().manual_seed(0))
    # what it returns (and a worker may report) is the generated-data term alone: the real term reads raw records
    assert private_loss.item() == pytest.approx(D_TERMS[loss][1](D(fake)).mean().item(), rel=1e-6)
    for a, p in zip(plain, D.parameters()):
        torch.testing.assert_close(p.grad, a, rtol=1e-4, atol=1e-6)


def test_each_records_gradient_is_clipped():
    """With the generated term left out and no noise, D's gradient is a mean of vectors of norm <= C."""
    D, opt, real, fake = d_and_batches()
    on_real, _ = D_TERMS["bce"]
    clip = 1e-3
    privacy.private_d_backward(D, opt, on_real, lambda f: 0 * f, real * 10, fake, budget(0.0, clip),
                               torch.Generator().manual_seed(0))
    norm = torch.cat([p.grad.reshape(-1) for p in D.parameters()]).norm().item()
    assert 0.5 * clip < norm <= clip * (1 + 1e-4)  # the records' gradients are all far larger than C here


def test_the_noise_has_sigma_c_over_b_and_comes_from_the_workers_stream():
    D, opt, real, fake = d_and_batches()
    silent = (lambda r: 0 * r, lambda f: 0 * f)  # no signal: the gradient is the noise alone, / b

    def noise(seed: int) -> torch.Tensor:
        privacy.private_d_backward(D, opt, *silent, real, fake, budget(2.0, 0.5), torch.Generator().manual_seed(seed))
        return torch.cat([p.grad.reshape(-1) for p in D.parameters()])

    first, again, other = noise(1), noise(1), noise(2)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.std().item() == pytest.approx(2.0 * 0.5 / len(real), rel=0.05)  # 34k draws: within 1%


def test_the_epsilon_is_opacus_accountants_own():
    """spent() hands Opacus's RDP accountant the whole history at once; stepping it once per D step, as Opacus's
    own training loop does, gives the same epsilon."""
    from opacus.accountants import RDPAccountant

    b = privacy.budget(3.0, 1e-5, 1.0, 64, 719, 200)
    stepped = RDPAccountant()
    for _ in range(200):
        stepped.step(noise_multiplier=b.noise_multiplier, sample_rate=b.sample_rate)
    assert privacy.spent(b, 200) == pytest.approx(stepped.get_epsilon(delta=1e-5), rel=1e-9)


def test_the_issues_impossible_budget_is_refused(capsys, tmp_path):
    line = refused(capsys, "train", "--dataset", "digits", "--steps", "100000", "--dp-epsilon", "0.01", "--out",
                   str(tmp_path / "run"))
    assert line.startswith("distgan: error: --dp-epsilon 0.01:") and "give a larger epsilon" in line


def test_the_noise_meets_the_target_epsilon():
    b = privacy.budget(3.0, None, 1.0, 64, 719, 800)
    assert b.delta == pytest.approx(1 / (10 * 719)) and b.sample_rate == pytest.approx(64 / 719)
    assert 2.985 <= privacy.spent(b, 800) <= 3.0  # the search stops within 0.5% of the target
    assert privacy.spent(b, 400) < privacy.spent(b, 800)
    more_noise = privacy.budget(1.0, None, 1.0, 64, 719, 800)
    assert more_noise.noise_multiplier > b.noise_multiplier


@pytest.mark.parametrize("argv, needle", [
    (["--dp-epsilon", "0.001"], "no noise reaches it for 50 D steps"),
    (["--dp-epsilon", "3", "--batch-size", "1000"], "a worker holds 719 records, fewer than the batch of 1000"),
    (["--dp-epsilon", "-1"], "--dp-epsilon must be a finite number >= 0"),
    (["--dp-epsilon", "3", "--dp-delta", "1"], "--dp-delta must be in (0, 1)"),
    (["--dp-epsilon", "3", "--spectral-norm"], "--dp-epsilon with --spectral-norm"),
    (["--dp-epsilon", "0.08", "--batch-size", "2"], "need noise sigma = 2.12, and each D step's noise"),
])
def test_a_budget_that_cannot_be_met_is_refused_before_training(capsys, tmp_path, argv, needle):
    line = refused(capsys, "train", "--method", "md-gan", "--workers", "2", "--dataset", "digits", "--steps", "50",
                   "--backend", "sim", "--out", str(tmp_path / "run"), *argv)
    assert needle in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("method", ["md-gan", "sync-dp"])
def test_a_private_run_reports_what_it_spent(capsys, tmp_path, method):
    code, err = run_cli(capsys, "train", "--method", method, "--workers", "2", "--dataset", "digits", "--steps", "20",
                        "--batch-size", "16", "--eval-samples", "200", "--log-every", "5", "--backend", "sim",
                        "--dp-epsilon", "2", "--no-progress", "--no-tensorboard", "--out", str(tmp_path))
    assert code == 0, err
    spent = read_summary(tmp_path)["privacy"]
    assert spent["epsilon_target"] == 2.0 and spent["clip"] == 1.0 and spent["accountant"].startswith("rdp (Opacus)")
    assert spent["sampling"] == "poisson" and spent["delta"] == pytest.approx(1 / (10 * 719))
    assert [b["records"] for b in spent["budgets"]] == [719, 719]
    assert 1.9 < spent["epsilon_spent"] <= 2.0
    assert all(b["noise_multiplier"] > 0 and b["d_steps"] == 20 for b in spent["budgets"])
    assert [(w["worker"], w["d_steps_executed"]) for w in spent["workers"]] == [(0, 20), (1, 20)]
    logged = [r["epsilon"] for r in read_jsonl(tmp_path / "metrics.jsonl") if r.get("type") == "train"]
    assert logged == sorted(logged) and len(logged) == 4 and logged[-1] == pytest.approx(spent["epsilon_spent"])


def test_a_run_without_privacy_says_so(capsys, tmp_path):
    code, _ = run_cli(capsys, "train", "--dataset", "digits", "--steps", "3", "--batch-size", "8", "--eval-samples",
                      "100", "--backend", "sim", "--no-progress", "--no-tensorboard", "--out", str(tmp_path))
    assert code == 0 and read_summary(tmp_path)["privacy"] is None
    assert "epsilon" not in json.dumps(read_jsonl(tmp_path / "metrics.jsonl"))


def test_budgets_are_per_worker(tmp_path):
    from distgan.config import RunConfig

    config = RunConfig.of(method="fl-gan", workers=2, dataset="digits", steps=100, batch_size=32, dp_epsilon=4.0,
                          out=str(tmp_path))
    small, large = privacy.plan(config, [100, 1000])
    assert small.sample_rate == pytest.approx(0.32) and large.sample_rate == pytest.approx(0.032)
    assert small.noise_multiplier > large.noise_multiplier  # a smaller shard needs more noise for the same epsilon
    with pytest.raises(DistganError, match="fewer than the batch"):
        privacy.plan(config, [10, 1000])


@pytest.mark.slow
def test_one_private_method_two_transports_same_generator(tmp_path):
    """The noise is drawn from each worker's own seeded stream, so DP does not break sim = process."""
    from distgan import train
    from helpers import final_state, small_config

    for backend in ("sim", "process"):
        train(small_config(tmp_path / backend, method="md-gan", workers=2, backend=backend, dp_epsilon=3.0))
    sim, proc = final_state(tmp_path / "sim"), final_state(tmp_path / "process")
    assert sim["step"] == proc["step"] == 12
    for name, tensor in sim["G"].items():
        torch.testing.assert_close(tensor, proc["G"][name], rtol=1e-4, atol=1e-5, msg=name)


def test_private_fl_gan_with_one_worker_is_private_standalone(tmp_path):
    """At N = 1, fl-gan reduces to standalone (tests/methods/test_reduction.py); with DP too: the same budget,
    and the same noise, drawn from worker 0's stream."""
    from distgan import train
    from helpers import final_state, small_config

    common = dict(steps=7, threads=1, eval_samples=100, g_ema=0.0, dp_epsilon=3.0)
    train(small_config(tmp_path / "standalone", method="standalone", **common))
    train(small_config(tmp_path / "fl-gan", method="fl-gan", workers=1, local_steps=3, **common))
    a, b = final_state(tmp_path / "standalone")["G"], final_state(tmp_path / "fl-gan")["G"]
    assert max((a[k] - b[k]).abs().max().item() for k in a if "running" not in k and "num_batches" not in k) < 1e-5
    assert read_summary(tmp_path / "fl-gan")["privacy"]["workers"] == read_summary(tmp_path / "standalone")[
        "privacy"]["workers"]
