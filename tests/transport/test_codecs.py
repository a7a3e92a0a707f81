"""Compressed messages (--compress; distgan/transport/codecs.py): the bytes on the wire, what comes back, error
feedback, and the same numbers on both transports."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from distgan import api
from distgan.errors import DistganError
from distgan.transport.codecs import CHUNK, Codec, Compression, parse_codec
from helpers import final_state, read_jsonl, read_summary, small_config

N = 5000  # values: four int8 chunks and a part


def values(seed: int = 0) -> torch.Tensor:
    return torch.randn(N, generator=torch.Generator().manual_seed(seed)) * 3


@pytest.mark.parametrize("codec, wire", [("fp16", 2 * N), ("bf16", 2 * N), ("int8", N + 4 * math.ceil(N / CHUNK)),
                                         ("topk:0.01", 8 * 50)])
def test_each_codecs_bytes_are_its_formula(codec, wire):
    c = parse_codec(codec)
    assert c.wire_bytes(N) == wire
    encoded = c.encode(values())
    assert encoded.dtype == torch.uint8 and encoded.numel() == wire


@pytest.mark.parametrize("codec, bound", [("fp16", 2 ** -11), ("bf16", 2 ** -8)])
def test_casts_round_each_value(codec, bound):
    x = values()
    back = parse_codec(codec).decode(parse_codec(codec).encode(x), N)
    assert ((back - x).abs() <= bound * x.abs()).all()


def test_int8_errs_by_at_most_half_a_step_of_its_chunks_scale():
    x = values()
    back = Codec("int8").decode(Codec("int8").encode(x), N)
    for start in range(0, N, CHUNK):
        chunk = slice(start, start + CHUNK)
        assert (back[chunk] - x[chunk]).abs().max() <= x[chunk].abs().max() / 127 / 2 * (1 + 1e-5)


def test_topk_sends_exactly_the_largest_entries():
    x = values()
    back = Codec("topk", 0.01).decode(Codec("topk", 0.01).encode(x), N)
    kept = back != 0
    assert kept.sum() == 50
    assert torch.equal(back[kept], x[kept])
    assert x[kept].abs().min() >= x[~kept].abs().max()


def test_error_feedback_delivers_what_was_held_back():
    """Sent again and again, a vector gets through whole: what top-k left out is added to the next message, so
    the decoded messages sum to the vectors sent, up to the residual, which stays bounded."""
    compression = Compression(Codec("topk", 0.01), {"g": "gradient"})
    x, delivered = values(), torch.zeros(N)
    for _ in range(400):
        delivered += compression.codec.decode(compression.encode("g", 1, x), N)
    residual = compression.residuals["g|1"]
    torch.testing.assert_close(delivered + residual, 400 * x, rtol=1e-4, atol=1e-2)
    assert residual.norm() < 0.2 * (400 * x).norm()  # most of it arrived
    without = Compression(Codec("topk", 0.01), {"g": "gradient"})
    without.encode("g", 1, x)
    assert without.residuals["g|1"].norm() > 0  # and each sender keeps its own, per kind and peer


def test_topk_skips_weights_and_small_or_integer_payloads():
    compression = Compression(Codec("topk", 0.1), {"w": "weights", "g": "gradient"})
    assert not compression.applies("w", values())
    assert not compression.applies("g", torch.randn(10))
    assert not compression.applies("g", torch.arange(N))
    assert not compression.applies("other", values())
    assert compression.applies("g", values())
    assert Compression(Codec("int8"), {"w": "weights"}).applies("w", values())


@pytest.mark.parametrize("text", ["gzip", "topk:0", "topk:1.5", "topk:x", "int4"])
def test_unknown_codecs_are_refused(text):
    with pytest.raises(DistganError, match="--compress expects one of"):
        parse_codec(text)


def test_unknown_kinds_are_refused(tmp_path):
    with pytest.raises(DistganError, match="--compress-kinds sync-dp/grad_D: fl-gan compresses only fl-gan/params"):
        small_config(tmp_path, method="fl-gan", workers=2, compress="fp16", compress_kinds="sync-dp/grad_D").validate()


def sent(run, kind: str) -> int:
    return sum(counts["sent"].get(kind, 0) for counts in read_summary(run)["bytes"]["per_rank"].values())


def test_fp16_moves_exactly_half_the_weights(tmp_path):
    for codec in ("none", "fp16"):
        api.train(small_config(tmp_path / codec, method="fl-gan", workers=2, backend="sim", compress=codec))
    assert sent(tmp_path / "fp16", "fl-gan/params") * 2 == sent(tmp_path / "none", "fl-gan/params")
    assert sent(tmp_path / "fp16", "fl-gan/stats") == sent(tmp_path / "none", "fl-gan/stats")  # too small


def test_topk_updates_of_sync_dp_move_2_percent(tmp_path):
    """All-gathered top-k: (N-1) x 8k bytes a rank, against the ring all-reduce's 2 (N-1)/N x 4n: 0.02 at N = 2.
    Under top-k sync-dp sends Adam's updates (update_X) instead of gradients (grad_X), vectors of the same size."""
    for codec in ("none", "topk:0.01"):
        api.train(small_config(tmp_path / codec, method="sync-dp", workers=2, backend="sim", compress=codec))
    for model in ("D", "G"):
        ratio = sent(tmp_path / "topk:0.01", f"sync-dp/update_{model}") / sent(tmp_path / "none",
                                                                                f"sync-dp/grad_{model}")
        assert 0.019 < ratio < 0.021


def test_topk_carries_residuals_for_model_gradients_but_not_for_gradients_on_fresh_samples():
    """md-gan's feedback is about a new batch of samples each time: a residual would land on unrelated ones."""
    compression = Compression(parse_codec("topk:0.01"), {"grad": "gradient", "feedback": "sample-gradient"})
    first = compression.encode("feedback", 1, values(0))
    assert compression.residuals == {}
    assert torch.equal(compression.encode("feedback", 1, values(0)), first)  # nothing carried into the second
    compression.encode("grad", 1, values(0))
    assert torch.allclose(compression.residuals["grad|1"].abs().sum(), values(0).abs().sum()
                          - values(0).abs().topk(50).values.sum())


def test_md_gan_compresses_feedback_and_samples_but_sparsifies_only_feedback(tmp_path):
    for codec in ("none", "topk:0.1", "int8"):
        api.train(small_config(tmp_path / codec, method="md-gan", workers=2, backend="sim", compress=codec,
                               swap_every=0.01, checkpoint_every=6))
    for kind in ("md-gan/X_g", "md-gan/swap"):
        assert sent(tmp_path / "topk:0.1", kind) == sent(tmp_path / "none", kind)
    values_per_message = 8 * 64  # b x an 8x8 image
    kept = math.ceil(0.1 * values_per_message)
    assert sent(tmp_path / "topk:0.1", "md-gan/feedback") * 4 * values_per_message == \
        sent(tmp_path / "none", "md-gan/feedback") * 8 * kept
    for kind in ("md-gan/X_g", "md-gan/feedback", "md-gan/swap"):
        assert sent(tmp_path / "int8", kind) < 0.26 * sent(tmp_path / "none", kind)
    for codec in ("int8", "topk:0.1"):  # Adam's moments: casts only
        assert sent(tmp_path / codec, "md-gan/swap-adam") == sent(tmp_path / "none", "md-gan/swap-adam") > 0


def test_int8_leaves_adams_moments_whole_so_swapped_discriminators_stay_finite(tmp_path):
    """The compression study's first md-gan int8 cells quantised D's weights and Adam's moments as one vector
    per 1,024-value chunk: the second moments became 0, Adam divided by them, and D's loss passed 1e20 within
    50 iterations. With the moments whole, D's loss stays that of a GAN (BCE, near log 4)."""
    summary = api.train(small_config(tmp_path, method="md-gan", workers=2, backend="sim", compress="int8",
                                     swap_every=0.01, steps=40, log_every=5))
    losses = [row["loss_d"] for row in read_jsonl(tmp_path / "metrics.jsonl") if "loss_d" in row]
    assert len(losses) >= 6 and max(losses) < 10
    assert summary["bytes"]["per_rank"]["1"]["sent"]["md-gan/swap-adam"] > 0


def test_a_resumed_run_keeps_its_residuals(tmp_path):
    straight = small_config(tmp_path / "straight", method="sync-dp", workers=2, backend="sim", steps=12,
                            checkpoint_every=6, compress="topk:0.05")
    api.train(straight)
    first = dataclasses.replace(straight, out=str(tmp_path / "resumed"), steps=6)
    api.train(first)
    assert "sync-dp/update_D|all" in final_state(first.out)["residuals"]
    api.train(dataclasses.replace(first, steps=12, resume=True))
    want, got = final_state(straight.out), final_state(first.out)
    for name, tensor in want["G"].items():
        assert torch.equal(got["G"][name], tensor), name


@pytest.mark.slow
@pytest.mark.parametrize("method, codec", [("fl-gan", "fp16"), ("md-gan", "topk:0.1")])
def test_both_transports_give_the_same_numbers(tmp_path, method, codec):
    for backend in ("sim", "process"):
        api.train(small_config(tmp_path / backend, method=method, workers=2, backend=backend, compress=codec))
    assert read_summary(tmp_path / "sim")["bytes"]["per_rank"] == read_summary(tmp_path / "process")["bytes"][
        "per_rank"]
    sim, proc = final_state(tmp_path / "sim"), final_state(tmp_path / "process")
    for name, tensor in sim["G"].items():
        torch.testing.assert_close(tensor, proc["G"][name], rtol=1e-4, atol=1e-5, msg=name)
