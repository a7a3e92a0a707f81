"""Issue 44, item 6: a run whose numbers turn NaN or inf stops at once, names the step and the likely cause, exits
non-zero and keeps its last whole checkpoint; a --dp-clip whose noise cannot work is refused before it starts."""

from __future__ import annotations

import pytest
import torch

import distgan.methods.standalone as standalone
from helpers import refused, run_cli

RUN = ["train", "--dataset", "ring8", "--backend", "sim", "--steps", "12", "--batch-size", "16", "--log-every", "100",
       "--checkpoint-every", "4", "--sample-every", "100", "--eval-samples", "100", "--no-progress",
       "--no-tensorboard"]


def poison(monkeypatch, at: int, before_loss: bool) -> None:
    """From update `at` on, D's weights turn NaN: before the update's losses are computed, or just after."""
    step_of = standalone.gan_step
    calls = {"n": 0}

    def diverging(gan, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= at and before_loss:
            for p in gan.D.parameters():
                p.data.fill_(float("nan"))
        losses = step_of(gan, *args, **kwargs)
        if calls["n"] >= at and not before_loss:
            for p in gan.D.parameters():
                p.data.fill_(float("nan"))
        return losses

    monkeypatch.setattr(standalone, "gan_step", diverging)


def test_a_nan_loss_stops_the_run_at_its_step_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    poison(monkeypatch, at=7, before_loss=True)
    line = refused(capsys, *RUN, "--out", str(tmp_path))
    assert line.startswith("distgan: error: step 7: loss_d is nan") and "Likely cause" in line, line
    assert "--lr-d" in line
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 4
    assert not (tmp_path / "summary.json").exists()


def test_a_nan_state_is_never_saved_over_the_last_whole_checkpoint(tmp_path, capsys, monkeypatch):
    poison(monkeypatch, at=8, before_loss=False)  # step 8's losses are finite, the state it checkpoints is not
    line = refused(capsys, *RUN, "--out", str(tmp_path))
    assert "step 8:" in line and "holds NaN or inf" in line and "checkpoint was not written" in line, line
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 4


def test_the_likely_cause_of_a_private_run_is_its_clip():
    from distgan.config import RunConfig
    from distgan.divergence import Diverged, check_losses

    with pytest.raises(Diverged, match=r"step 3: loss_g is inf.*--dp-clip 100"):
        check_losses(3, {"loss_d": 0.5, "loss_g": float("inf")}, RunConfig.of(dp_epsilon=3.0, dp_clip=100.0))


@pytest.mark.parametrize("clip", ["1e308", "1e7", "inf", "nan"])
def test_a_clip_whose_noise_cannot_work_is_refused(tmp_path, capsys, clip):
    line = refused(capsys, *RUN, "--dp-epsilon", "3", "--dp-clip", clip, "--out", str(tmp_path))
    assert "--dp-clip must be > 0 and at most 1e+06" in line and "overflows" in line, line
    assert not (tmp_path / "metrics.jsonl").exists()


def test_an_ordinary_run_still_finishes(tmp_path, capsys):
    code, err = run_cli(capsys, *RUN, "--out", str(tmp_path))
    assert code == 0, err
