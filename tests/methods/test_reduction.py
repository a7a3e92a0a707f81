"""At N = 1, sync-dp, fl-gan and async-ps are the standalone GAN: same seed, same final G (issue 9).

A method must not win or lose because of how distgan wrote it; these tests hold each to the baseline.
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
    "fl-gan s=3": dict(method="fl-gan", local_steps=3),  # 7 is not a multiple of 3: the last round is cut to 1
    "fl-gan s=20": dict(method="fl-gan", local_steps=20),  # one round, cut to the budget
    "async-ps": dict(method="async-ps", pull_every=1, push_every=1),
}


def run(folder: Path, **overrides) -> dict:
    return train(small_config(folder, steps=STEPS, threads=1, eval_samples=100, **overrides))


@pytest.fixture(scope="module")
def standalone(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("standalone")
    run(folder, method="standalone")
    return folder


def max_difference(a: Path, b: Path) -> float:
    G_a, G_b = final_state(a)["G"], final_state(b)["G"]
    # BatchNorm's running statistics are left out: a parameter server's G never runs forward, and
    # evaluation samples with batch statistics (see Recorder.generate)
    return max((G_a[k] - G_b[k]).abs().max().item() for k in G_a if "running" not in k and "num_batches" not in k)


@pytest.mark.parametrize("backend", ["sim", "process"])
@pytest.mark.parametrize("name", list(REDUCES))
def test_method_at_one_worker_is_standalone(standalone, tmp_path, name, backend):
    summary = run(tmp_path, workers=1, backend=backend, **REDUCES[name])
    assert summary["g_updates"] == STEPS
    assert max_difference(tmp_path, standalone) <= 1e-5
    fid, reference = summary["final_eval"]["fid"], json.loads((standalone / "summary.json").read_text())
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
