"""The recipe: its defaults by data, and its options (an EMA of G for evaluation, spectral norm on D, a deeper G)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from distgan import api
from distgan.models import build_models
from helpers import final_state, read_jsonl, small_config


def test_spectral_norm_bounds_every_layer_of_D():
    _, D = build_models((1, 28, 28), spectral_norm=True)
    for layer in D.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
            weight = layer.weight.reshape(layer.weight.shape[0], -1)
            for _ in range(20):  # power iterations settle with use
                D(torch.randn(4, 1, 28, 28))
            assert torch.linalg.matrix_norm(layer.weight.reshape(weight.shape), ord=2) < 1.3


def test_g_ema_is_saved_and_resumes_exactly(tmp_path):
    straight = small_config(tmp_path / "straight", g_ema=0.9, steps=8, checkpoint_every=4, eval_every=4)
    api.train(straight)
    half = dataclasses.replace(straight, out=str(tmp_path / "resumed"), steps=4)
    api.train(half)
    api.train(dataclasses.replace(half, steps=8, resume=True))
    want, got = final_state(straight.out)["g_ema"], final_state(half.out)["g_ema"]
    for name, tensor in want.items():
        assert torch.equal(got[name], tensor), name
    evals = [x["fid"] for x in read_jsonl(tmp_path / "straight" / "metrics.jsonl") if x["type"] == "eval"]
    resumed = [x["fid"] for x in read_jsonl(tmp_path / "resumed" / "metrics.jsonl") if x["type"] == "eval"]
    assert evals[-1] == resumed[-1]


def test_g_ema_changes_what_is_evaluated(tmp_path):
    plain = api.train(small_config(tmp_path / "plain", steps=8, g_ema=0.0))
    ema = api.train(small_config(tmp_path / "ema", steps=8, g_ema=0.9))
    assert plain["final_eval"]["fid"] != ema["final_eval"]["fid"]


def test_the_ema_warm_up_follows_G_early_and_reaches_the_decay_later():
    from distgan.recorder import ema_decay

    assert ema_decay(0.999, True, 1) == pytest.approx(0.1)  # (1 + 0) / (10 + 0): the EMA is almost G
    assert ema_decay(0.999, True, 100) == pytest.approx(100 / 109)
    assert ema_decay(0.999, True, 100_000) == 0.999
    assert ema_decay(0.999, False, 1) == 0.999


def test_a_round_of_k_updates_moves_the_ema_as_k_single_updates(tmp_path):
    """fl-gan records a round of s local steps at once; the EMA must be where s single steps leave it."""
    from distgan.recorder import Recorder

    G = torch.nn.Linear(2, 2)
    ema_of = {}
    for name, rounds in (("single", [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]), ("round", [(0, 1), (1, 5)])):
        recorder = Recorder.__new__(Recorder)
        recorder.config, recorder.ema, recorder.ema_state = small_config(tmp_path, g_ema=0.99), None, None
        for step_from, step_to in rounds:
            with torch.no_grad():
                G.weight.copy_(torch.full((2, 2), float(step_to)))
            ema = recorder._update_ema(G, step_from, step_to)
        ema_of[name] = ema.weight.clone()
    # the round's G is weighed by 1 - the product of the decays of updates 2..5 (single steps see the Gs between)
    kept = 1.0
    for t in range(2, 6):
        kept *= min(0.99, t / (9 + t))
    assert torch.allclose(ema_of["round"], kept * torch.ones(2, 2) + (1 - kept) * 5 * torch.ones(2, 2))
    assert not torch.allclose(ema_of["round"], ema_of["single"])


def test_the_recipe_fills_depth_ema_and_budget_by_data_and_a_given_flag_wins():
    from distgan.config import RunConfig
    from distgan.data.registry import load_dataset

    digits = RunConfig(dataset="digits").validate().resolved(load_dataset("digits"))
    assert (digits.g_depth, digits.g_ema, digits.steps, digits.lr_g) == (2, 0.999, 10_000, 4e-4)
    mnist = RunConfig(dataset="mnist5k").validate().resolved(load_dataset("mnist5k"))
    assert (mnist.g_depth, mnist.g_ema, mnist.lr_g) == (2, 0.0, 8e-4)  # mnist5k, 3 paired seeds (docs/recipe.md)
    ring = RunConfig(dataset="ring8").validate().resolved(load_dataset("ring8"))
    assert (ring.g_depth, ring.g_ema, ring.steps) == (0, 0.0, 2000)
    mine = RunConfig(dataset="digits", g_depth=0, g_ema=0.0, steps=300).validate().resolved(load_dataset("digits"))
    assert (mine.g_depth, mine.g_ema, mine.steps) == (0, 0.0, 300)


def test_width_sets_the_channels_of_both_models_for_every_data_shape():
    for shape, first in (((2,), "hidden"), ((1, 8, 8), "conv"), ((1, 28, 28), "conv")):
        G, D = build_models(shape, width=16)
        D_first = next(m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
        assert (D_first.out_channels if first == "conv" else D_first.out_features) == 16, shape
        wide_G, _ = build_models(shape, width=32)
        assert sum(p.numel() for p in wide_G.parameters()) > sum(p.numel() for p in G.parameters()), shape


def test_width_reaches_the_models_of_a_run(tmp_path):
    summary = api.train(small_config(tmp_path, width=8, g_depth=1, steps=2))
    G, D = build_models((1, 8, 8), width=8, g_depth=1)
    assert summary["params"]["D"] == sum(p.numel() for p in D.parameters())
    assert summary["params"]["G"] == sum(p.numel() for p in G.parameters())


def test_g_depth_adds_conv_blocks_to_the_8x8_G_and_leaves_D_and_the_default_alone():
    torch.manual_seed(0)
    G0, D0 = build_models((1, 8, 8))
    torch.manual_seed(0)
    G1, D1 = build_models((1, 8, 8), g_depth=1)
    convs = [sum(isinstance(m, torch.nn.Conv2d) for m in G.modules()) for G in (G0, G1)]
    assert convs[1] == convs[0] + 1
    assert sum(p.numel() for p in G1.parameters()) - sum(p.numel() for p in G0.parameters()) == 32 * 32 * 9 + 2 * 32
    assert all(torch.equal(a, b) for a, b in zip(D0.state_dict().values(), D1.state_dict().values()))
    assert build_models((1, 8, 8), g_depth=0)[0].state_dict().keys() == G0.state_dict().keys()


def test_g_depth_adds_conv_blocks_at_half_resolution_to_the_dcgan_G():
    G0, _ = build_models((1, 28, 28))
    G2, _ = build_models((1, 28, 28), g_depth=2)
    convs = [sum(isinstance(m, torch.nn.Conv2d) for m in G.modules()) for G in (G0, G2)]
    assert convs == [0, 2]  # DCGAN's G upsamples with transposed convs; the blocks are plain convs
    added = sum(p.numel() for p in G2.parameters()) - sum(p.numel() for p in G0.parameters())
    assert added == 2 * (64 * 64 * 9 + 2 * 64)
    assert G2(torch.randn(3, 64)).shape == (3, 1, 28, 28)


def test_g_depth_on_other_data_is_a_clear_error():
    from distgan.config import RunConfig
    from distgan.data.registry import load_dataset
    from distgan.errors import DistganError

    with pytest.raises(DistganError, match="--g-depth applies to the conv generators of images"):
        RunConfig(dataset="ring8", g_depth=1).validate().resolved(load_dataset("ring8"))
