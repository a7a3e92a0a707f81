"""At N = 1, sync-dp, fl-gan and async-ps are the standalone GAN: same seed, same final G (issue 9).

A method must not win or lose because of how distgan wrote it; these tests hold each to the baseline.
The EMA of G (on by default for digits) lives with the server's averaged G in fl-gan, which exists only at
the end of a round, so fl-gan's EMA takes one sample per round where standalone's takes one per update; its
runs here turn the EMA off, so that what is evaluated is the same G.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distgan import train
from helpers import final_state, read_jsonl, small_config

STEPS = 7
REDUCES = {
    "sync-dp": dict(method="sync-dp"),
    "fl-gan s=3": dict(method="fl-gan", local_steps=3, g_ema=0.0),  # 7 is not a multiple of 3: the last round is 1
    "fl-gan s=20": dict(method="fl-gan", local_steps=20, g_ema=0.0),  # one round, cut to the budget
    "async-ps": dict(method="async-ps", pull_every=1, push_every=1),
    "gossip-gan": dict(method="gossip-gan", gossip_every=1),  # no peer at N = 1: no exchange
}


def run(folder: Path, **overrides) -> dict:
    return train(small_config(folder, steps=STEPS, threads=1, eval_samples=100, **overrides))


@pytest.fixture(scope="module")
def standalone(tmp_path_factory) -> dict[float, Path]:
    """Standalone runs with the default EMA and without one, by g_ema (None: the default)."""
    folders = {}
    for g_ema in (None, 0.0):
        folders[g_ema] = tmp_path_factory.mktemp("standalone")
        run(folders[g_ema], method="standalone", **({} if g_ema is None else {"g_ema": g_ema}))
    return folders


def max_difference(a: Path, b: Path) -> float:
    G_a, G_b = final_state(a)["G"], final_state(b)["G"]
    # BatchNorm's running statistics are left out: a parameter server's G never runs forward, and
    # evaluation samples with batch statistics (see Recorder.generate)
    return max((G_a[k] - G_b[k]).abs().max().item() for k in G_a if "running" not in k and "num_batches" not in k)


@pytest.mark.parametrize("backend", ["sim", "process"])
@pytest.mark.parametrize("name", list(REDUCES))
def test_method_at_one_worker_is_standalone(standalone, tmp_path, name, backend):
    summary = run(tmp_path, workers=1, backend=backend, **REDUCES[name])
    baseline = standalone[REDUCES[name].get("g_ema")]
    assert summary["g_updates"] == STEPS
    assert max_difference(tmp_path, baseline) <= 1e-5
    fid, reference = summary["final_eval"]["fid"], json.loads((baseline / "summary.json").read_text())
    assert abs(fid - reference["final_eval"]["fid"]) <= 1e-3 * reference["final_eval"]["fid"]


def test_fl_gan_spends_exactly_its_budget_and_never_evaluates_ahead(tmp_path):
    """Rounds of 5 local steps on a 12-step budget: rounds end at 5, 10 and 12, and each evaluation is
    labelled with the step of the averaged G it scores."""
    summary = train(small_config(tmp_path, method="fl-gan", workers=2, local_steps=5, steps=12, eval_every=2,
                                 log_every=4, backend="sim", eval_samples=100))
    lines = read_jsonl(tmp_path / "metrics.jsonl")
    assert [x["step"] for x in lines if x["type"] == "eval"] == [5, 10, 12]
    assert [x["step"] for x in lines if x["type"] == "train"] == [5, 10, 12]
    params = summary["params"]["G"] + summary["params"]["D"]
    w_bytes = 4 * params  # conv8 G's BatchNorm buffers are floats too: at least the parameters
    sent = summary["bytes"]["per_rank"]["0"]["sent"]["fl-gan/params"]
    rounds = 3
    assert sent % (2 * rounds) == 0 and sent // (2 * rounds) >= w_bytes  # 3 rounds to 2 workers, no more
    last = [x for x in lines if x["type"] == "eval"][-1]
    b = 8
    assert last["real_images"] == last["fake_samples"] == 2 * 12 * b  # 2 workers, 12 local steps each


def test_fresh_client_optimizers_match_standalone_within_the_first_round_only(standalone, tmp_path):
    """`--client-optimizer fresh` starts every round with a new Adam: one round (s = 20 > 7 steps) is still
    standalone; rounds of 3 restart Adam's moments twice, so the G differs."""
    baseline = standalone[0.0]
    one_round = tmp_path / "one"
    run(one_round, method="fl-gan", workers=1, backend="sim", local_steps=20, g_ema=0.0, client_optimizer="fresh")
    assert max_difference(one_round, baseline) <= 1e-5
    three_rounds = tmp_path / "three"
    run(three_rounds, method="fl-gan", workers=1, backend="sim", local_steps=3, g_ema=0.0, client_optimizer="fresh")
    assert max_difference(three_rounds, baseline) > 1e-4
