"""End to end on one short simulated md-gan run: the trace holds every counted byte, and projects."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from distgan.cli import main
from distgan.data.registry import load_dataset
from distgan.launch import run_simulated
from distgan.network.project import project
from distgan.transport.trace import read_trace
from helpers import read_summary, refused, small_config


@pytest.fixture(scope="module")
def md_gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("md") / "run"
    config = small_config(out, method="md-gan", workers=2, backend="sim", steps=6, tensorboard=False,
                          swap_every=0.05).validate()  # a swap every 4 iterations on digits with b = 8
    dataset = load_dataset(config.dataset)
    run_simulated(config.resolved(dataset), dataset, None)
    return out


def test_the_trace_holds_every_counted_byte_by_rank_kind_and_step(md_gan_run):
    records = read_trace(md_gan_run / "trace.jsonl")
    per_rank = read_summary(md_gan_run)["bytes"]["per_rank"]
    sent, recv = defaultdict(lambda: defaultdict(int)), defaultdict(lambda: defaultdict(int))
    for r in records:
        for item in r["ops"]:
            if item[0] in ("s", "i", "x"):
                sent[str(r["rank"])][item[1]] += item[3]
            if item[0] in ("r", "x"):
                recv[str(r["rank"])][item[1]] += item[3]
    for rank, counts in per_rank.items():
        assert dict(sent[rank]) == counts["sent"] and dict(recv[rank]) == counts["recv"]
    assert sorted(r["step"] for r in records if r["rank"] == 1) == [1, 2, 3, 4, 5, 6]
    phases = {item[1] for r in records for item in r["ops"] if item[0] == "c"}
    assert {"server generate", "server G step", "worker D steps", "worker feedback"} <= phases
    swaps = [item for r in records for item in r["ops"] if item[0] == "x"]
    assert {(s[2], s[5]) for s in swaps} == {(2, 2), (1, 1)}  # two workers swap with each other


def test_projection_is_bounded_by_the_busiest_link_and_grows_as_bandwidth_falls(md_gan_run, capsys):
    fast = project(md_gan_run, "100mbit,0ms")
    assert main(["project", str(md_gan_run), "--network", "10mbit,0ms", "--json"]) == 0
    slow = json.loads(capsys.readouterr().out)
    assert slow["method"] == "md-gan"
    assert slow["projected_wall_s"] >= 8 * slow["busiest_link"]["bytes"] / 10e6
    assert slow["projected_wall_s"] > fast["projected_wall_s"]
    assert 0 < fast["comm_share"] < slow["comm_share"] < 1


def test_a_bad_profile_is_one_line_and_exit_2(md_gan_run, capsys):
    assert "--network expects" in refused(capsys, "project", str(md_gan_run), "--network", "fast,1ms")
