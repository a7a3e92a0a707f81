"""gossip-gan (Gossiping GANs, GoSGD's push-sum merge): no server, conserved weights, peers that stop choosing a
dead worker, and the same numbers on both transports."""

from __future__ import annotations

import pytest
import torch

from distgan import api
from distgan.methods.gossip_gan import draw_peers
from helpers import final_state, read_summary, small_config


def run(tmp_path, name: str, **overrides):
    values = dict(method="gossip-gan", workers=3, backend="sim", steps=12, gossip_every=2, checkpoint_every=12)
    values.update(overrides)
    api.train(small_config(tmp_path / name, **values))
    return tmp_path / name


def test_peers_are_drawn_uniformly_and_never_oneself():
    rng = torch.Generator().manual_seed(0)
    counts = torch.zeros(4, 4)
    for _ in range(3000):
        for n, j in enumerate(draw_peers(rng, 4)):
            counts[n, j] += 1
    assert counts.diagonal().sum() == 0
    off = counts[~torch.eye(4, dtype=torch.bool)]
    assert (off / 1000 - 1).abs().max() < 0.1  # each of the 3 others about a third of the time


def test_push_sum_weights_stay_a_distribution(tmp_path):
    """The sender halves its weight and the receiver adds it: over the workers, each model's weights sum to 1."""
    folder = run(tmp_path, "joint")
    states = [final_state(folder)] + [torch.load(folder / f"checkpoint_rank{r}.pt", weights_only=True)
                                      for r in (1, 2)]
    weights = torch.stack([s["gossip_weights"] for s in states])
    torch.testing.assert_close(weights.sum(dim=0), torch.ones(2, dtype=torch.float64))
    assert not torch.allclose(weights, torch.full_like(weights, 1 / 3))  # the exchanges moved them


def test_no_rank_is_a_server(tmp_path):
    per_rank = read_summary(run(tmp_path, "joint"))["bytes"]["per_rank"]
    moved = [sum(c["sent"].values()) + sum(c["recv"].values()) for c in per_rank.values()]
    assert len(moved) == 3 and max(moved) < 2 * min(moved)


def test_the_independent_variant_draws_peers_for_g_and_d_apart(tmp_path):
    per_rank = read_summary(run(tmp_path, "independent", gossip_variant="independent", steps=24))["bytes"]["per_rank"]
    g_size = per_rank["0"]["sent"]["gossip-gan/G"] / 12
    d_size = per_rank["0"]["sent"]["gossip-gan/D"] / 12
    received = [(c["recv"].get("gossip-gan/G", 0) / g_size, c["recv"].get("gossip-gan/D", 0) / d_size)
                for c in per_rank.values()]
    assert sum(g for g, _ in received) == sum(d for _, d in received) == 36  # 12 exchanges x 3 workers
    assert any(g != d for g, d in received)  # some worker got G and D from different numbers of peers


def test_a_dead_worker_is_dropped_and_the_others_go_on(tmp_path):
    folder = run(tmp_path, "dead", fail=["2@5"], steps=16)
    summary = read_summary(folder)
    assert summary["g_updates"] == 16
    assert [f["rank"] for f in summary["failures"]] == [2]


@pytest.mark.slow
def test_both_transports_give_the_same_numbers(tmp_path):
    sim = run(tmp_path, "sim")
    proc = run(tmp_path, "process", backend="process")
    assert read_summary(sim)["bytes"]["per_rank"] == read_summary(proc)["bytes"]["per_rank"]
    for name, tensor in final_state(sim)["G"].items():
        torch.testing.assert_close(tensor, final_state(proc)["G"][name], rtol=1e-4, atol=1e-5, msg=name)
