"""What no codec may corrupt (distgan/transport/codecs.py): optimizer state, which travels in float32 unless bf16
is asked for, and gossip-gan's push-sum weights, which travel unencoded."""

from __future__ import annotations

import pytest
import torch

from distgan import api
from distgan.errors import DistganError
from distgan.transport.codecs import Compression, compression_for, parse_codec
from helpers import final_state, read_summary, small_config

MOMENTS = "md-gan/swap-adam"


@pytest.mark.parametrize("codec", ["fp16", "bf16", "int8", "topk:0.01"])
def test_no_codec_encodes_optimizer_state_by_default(codec):
    compression = Compression(parse_codec(codec), {MOMENTS: "optimizer"})
    assert not compression.applies(MOMENTS, torch.rand(4096) * 1e-6)


def test_bf16_carries_optimizer_state_only_when_its_kind_is_named(tmp_path):
    kinds = "md-gan/swap," + MOMENTS
    asked = compression_for(small_config(tmp_path, method="md-gan", workers=2, compress="bf16", compress_kinds=kinds))
    assert asked.applies(MOMENTS, torch.rand(4096))
    for codec in ("fp16", "int8", "topk:0.01"):
        with pytest.raises(DistganError, match=f"--compress-kinds {MOMENTS}: optimizer state travels in float32"):
            small_config(tmp_path, method="md-gan", workers=2, compress=codec, compress_kinds=kinds).validate()


def max_abs_weight_of_each_D(out, workers: int) -> list[float]:
    states = [torch.load(out / f"checkpoint_rank{r}.pt", weights_only=True)["D"] for r in range(1, workers + 1)]
    return [max(v.abs().max().item() for v in D.values() if v.is_floating_point()) for D in states]


def test_fp16_md_gan_keeps_discriminators_bounded(tmp_path):
    """fp16 flushed Adam's small second moments to 0 in every swap, and the next Adam step blew D's weights up
    (before 2026-12-07, in this run: 6.5 and 14.0 against 0.34 uncompressed). Now the moments travel in float32
    and the weights as fp16, each counted as it travels."""
    for codec in ("none", "fp16"):
        api.train(small_config(tmp_path / codec, method="md-gan", workers=2, backend="sim", compress=codec, steps=12,
                               swap_every=0.02, swap_adam="carry", checkpoint_every=12))
    plain, fp16 = max_abs_weight_of_each_D(tmp_path / "none", 2), max_abs_weight_of_each_D(tmp_path / "fp16", 2)
    assert max(fp16) < 2 * max(plain), (fp16, plain)
    sent = {codec: read_summary(tmp_path / codec)["bytes"]["per_rank"]["1"]["sent"] for codec in ("none", "fp16")}
    assert sent["fp16"][MOMENTS] == sent["none"][MOMENTS] > 0
    assert 2 * sent["fp16"]["md-gan/swap"] == sent["none"]["md-gan/swap"]


def test_gossip_weights_sum_to_1_under_int8(tmp_path):
    """Push-sum's weight a shared an int8 chunk with G's last values: 0.01 decoded 25% off, and before 2026-12-07
    G's weights summed to 1.0120 after these 40 exchanges. Now a travels as float64 on a kind of its own."""
    N, exchanges = 4, 40
    out = tmp_path / "int8"
    api.train(small_config(out, method="gossip-gan", workers=N, backend="sim", compress="int8", steps=exchanges,
                           gossip_every=1, checkpoint_every=exchanges, log_every=exchanges))
    states = [final_state(out)] + [torch.load(out / f"checkpoint_rank{r}.pt", weights_only=True) for r in range(1, N)]
    weights = torch.stack([s["gossip_weights"] for s in states])  # (workers, [G, D])
    assert (weights.sum(dim=0) - 1).abs().max() < 1e-6, weights.sum(dim=0)
    assert (weights - 1 / N).abs().max() > 0.01  # the exchanges moved them
    per_rank = read_summary(out)["bytes"]["per_rank"]
    assert all(c["sent"]["gossip-gan/weight"] == exchanges * 2 * 8 for c in per_rank.values())  # one float64 a push
