"""A run stopped at its checkpoint and resumed ends where the uninterrupted run ends (standalone: test_standalone)."""

import dataclasses
import json

import pytest
import torch

from distgan import api
from helpers import final_state, read_jsonl, small_config

# async-ps is left out: its arrival order is a schedule, not a function of the step, so a resumed run
# legitimately applies pushes in another order.
METHODS = ["sync-dp", "fl-gan", "md-gan"]


@pytest.mark.parametrize("method", METHODS)
def test_resume_from_the_checkpoint_reproduces_the_uninterrupted_run(tmp_path, method):
    straight = small_config(tmp_path / "straight", method=method, workers=2, backend="sim", steps=12,
                            checkpoint_every=6)
    api.train(straight)

    first_half = dataclasses.replace(straight, out=str(tmp_path / "resumed"), steps=6)
    api.train(first_half)
    assert final_state(first_half.out)["step"] == 6
    api.train(dataclasses.replace(first_half, steps=12, resume=True))

    logged = [line["step"] for line in read_jsonl(tmp_path / "resumed" / "metrics.jsonl") if line["type"] == "train"]
    # the second call went on from 6; a fresh start would log 4 (fl-gan: 6, the end of its second round) again
    assert logged == ([6, 9, 12] if method == "fl-gan" else [4, 6, 8, 12])
    want, got = final_state(straight.out), final_state(first_half.out)
    assert got["step"] == 12
    for name, tensor in want["G"].items():
        assert torch.equal(got["G"][name], tensor), f"{method}: G.{name} differs after resume"
    # the bytes go on from the checkpoint's counts: the resumed run reports what the uninterrupted one does,
    # but for the losses its first half sent at its own last step, 6, which the straight run does not log
    def moved(run: str) -> dict:
        per_rank = json.loads((tmp_path / run / "summary.json").read_text())["bytes"]["per_rank"]
        return {(rank, way, kind): n for rank, counts in per_rank.items() for way, kinds in counts.items()
                for kind, n in kinds.items() if not kind.endswith("/stats")}

    assert sum(moved("resumed").values()) > 0
    assert moved("resumed") == moved("straight")
