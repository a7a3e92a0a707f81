"""FeGAN: balanced sampling, KL weights, label bytes, and the same run on both transports."""

from __future__ import annotations

import math

import pytest
import torch

from distgan import train
from distgan.methods.fe_gan import BalancedSampler, kl_scores, kl_weights
from helpers import final_state, read_summary, small_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for backend in ("sim", "process"):
        folder = tmp_path_factory.mktemp(f"fe-gan-{backend}")
        train(small_config(folder, method="fe-gan", workers=3, backend=backend, partition="dirichlet:0.3",
                           client_fraction=0.67))
        out[backend] = folder
    return out


def test_both_transports_move_the_same_bytes_and_reach_the_same_G(runs):
    sim, proc = (read_summary(runs[b]) for b in ("sim", "process"))
    assert sim["bytes"]["per_rank"] == proc["bytes"]["per_rank"]
    for name, tensor in final_state(runs["sim"])["G"].items():
        torch.testing.assert_close(tensor, final_state(runs["process"])["G"][name], rtol=1e-4, atol=1e-5)


def test_label_counts_leave_each_device_once_under_their_own_kind(runs):
    per_rank = read_summary(runs["sim"])["bytes"]["per_rank"]
    classes = 10
    for rank in ("1", "2", "3"):
        assert per_rank[rank]["sent"]["fe-gan/labels"] == classes * 4
    assert per_rank["0"]["recv"]["fe-gan/labels"] == 3 * classes * 4


def test_kl_scores_are_zero_when_every_device_matches_the_whole():
    same = {r: torch.tensor([5.0, 5.0, 10.0]) for r in (1, 2)}
    assert all(abs(s) < 1e-12 for s in kl_scores(same).values())
    skewed = kl_scores({1: torch.tensor([10.0, 0.0]), 2: torch.tensor([5.0, 5.0])})
    # q = (15, 5)/20; device 1: KL((1, 0) || (0.75, 0.25)) = ln(1/0.75), times its share 10/20
    assert skewed[1] == pytest.approx(math.log(1 / 0.75) * 0.5)
    assert skewed[2] == pytest.approx((0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)) * 0.5)


def test_kl_weighting_schemes():
    scores = {1: 0.3, 2: 0.1}
    exp = kl_weights("exp", scores)
    assert exp[1] == pytest.approx(math.exp(0.3) / (math.exp(0.3) + math.exp(0.1)))
    assert kl_weights("linear", scores) == pytest.approx({1: 0.75, 2: 0.25})
    assert kl_weights("dirac", scores) == {1: 1.0, 2: 0.0}  # only a device at >= 0.5 of the linear weight
    assert kl_weights("dirac", {1: 0.2, 2: 0.2, 3: 0.2}) == pytest.approx({1: 1 / 3, 2: 1 / 3, 3: 1 / 3})


def test_balanced_sampling_takes_the_least_taken_class_first_and_rotates():
    # devices 1, 2 hold class 0 only; device 3 class 1 only; device 4 both
    counts = {1: torch.tensor([10.0, 0.0]), 2: torch.tensor([10.0, 0.0]), 3: torch.tensor([0.0, 10.0]),
              4: torch.tensor([5.0, 5.0])}
    sampler = BalancedSampler(counts, None)
    live = [1, 2, 3, 4]
    rounds = [sampler.select(live, 2) for _ in range(4)]
    for group in rounds:
        taken = sum(counts[r] for r in group)
        assert len(group) == 2 and taken[0] > 0 and taken[1] > 0, group  # both classes in every round
    assert set().union(*rounds) == {1, 2, 3, 4}  # round robin reaches every device
    assert sampler.select([1, 2], 2) == [1, 2]  # dead devices are never chosen
