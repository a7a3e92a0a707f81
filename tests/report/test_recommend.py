"""`## Which method to pick`: the rule picks a method, names a tie, or says it is undecided and what would decide.

The decisions here run on hand-written runs with a stand-in for the projection (seconds = step x a rate per
method and profile), so every expected time is known exactly.
"""

from __future__ import annotations

import json

import pytest
from fake_runs import write_run

from distgan.errors import DistganError
from distgan.network.profiles import parse_profile
from distgan.report.aggregate import group_runs
from distgan.report.load import load_runs
from distgan.report.pick import recommendation_json
from distgan.report.recommend import decide, parse_profiles, parse_requirements
from distgan.report.verdicts import Target

STEPS = list(range(100, 1001, 100))
WAN = parse_profile("wan")
TARGET = Target(points=False, value=3.0)


class Rates:
    """Projected seconds = step x rate[method] (the same on every profile)."""

    def __init__(self, rate: dict[str, float]):
        self.rate = rate

    def seconds_at(self, run, profile, step: int) -> float:
        return step * self.rate[run.method]


def runs(tmp_path, reach: dict[str, list[int | None]], final: dict[str, list[float]] | None = None,
         evaluations: list[int] = STEPS):
    """Per method and seed: the step where FID drops under the target (None: never), and the final FID."""
    for method, steps in reach.items():
        for seed, at in enumerate(steps):
            end = (final or {}).get(method, [2.0] * len(steps))[seed]
            curve = [(s, end if at is not None and s >= at else 10.0) for s in evaluations]
            workers = 1 if method == "standalone" else 2
            write_run(tmp_path, f"{method}_w{workers}_s{seed}", method=method, workers=workers, seed=seed,
                      curve=curve)
    return group_runs(load_runs(tmp_path))


def test_a_method_detectably_first_is_the_pick(tmp_path):
    # fl-gan reaches the target at 1 s a step x (200, 300, 300, 200) against md-gan's 2 s x (400, 500, 600, 500):
    # differences -600, -700, -900, -800: mean -750, sd 129, half-width 3.182 x 129 / 2 = 205, far beyond one
    # evaluation interval (200 s for md-gan)
    groups = runs(tmp_path, {"fl-gan": [200, 300, 300, 200], "md-gan": [400, 500, 600, 500]})
    d = decide(groups, WAN, TARGET, False, ["data-stays-local"], Rates({"fl-gan": 1.0, "md-gan": 2.0}), 2)
    assert d.decided and d.pick == ["fl-gan N=2"]
    assert "fl-gan N=2 reaches the target sooner than md-gan N=2: difference -750, 95% CI [-955, -545]" in d.lines[0]


def test_equal_times_are_a_tie_cheaper_in_bytes_first(tmp_path):
    # the same step to the target on every seed, at rates 1.00 and 1.02, evaluated every 10 steps: differences
    # -6, -8, -10, -12 (mean -9, under one evaluation interval of 10.2 s); the interval [-13.1, -4.9] widened by
    # 10.2 s each side lies inside ±10% of fl-gan's mean time 450 s
    groups = runs(tmp_path, {"fl-gan": [300, 400, 500, 600], "fe-gan": [300, 400, 500, 600]},
                  evaluations=list(range(10, 1001, 10)))
    d = decide(groups, WAN, TARGET, False, [], Rates({"fl-gan": 1.0, "fe-gan": 1.02}), 2)
    assert d.decided and sorted(d.pick) == ["fe-gan N=2", "fl-gan N=2"]
    assert "equivalent within ±" in d.lines[0]


def test_noisy_times_are_undecided_and_say_what_would_decide(tmp_path):
    groups = runs(tmp_path, {"fl-gan": [200, 700, 300], "md-gan": [600, 300, 500]})
    d = decide(groups, WAN, TARGET, False, [], Rates({"fl-gan": 1.0, "md-gan": 1.0}), 2)
    assert not d.decided and d.pick == []
    assert "not separated from" in d.what_would_decide and "paired seeds would decide" in d.what_would_decide
    assert d.to_json()["pick"] == [] and d.to_json()["decided"] is False


def test_a_method_detectably_worse_in_quality_is_out_however_fast(tmp_path):
    # async-ps is first to the target but ends 5 +-0.5 FID above md-gan on every seed
    groups = runs(tmp_path, {"async-ps": [100, 100, 100], "md-gan": [400, 500, 600]},
                  final={"async-ps": [7.0, 7.5, 6.5], "md-gan": [2.0, 2.0, 2.0]})
    d = decide(groups, WAN, TARGET, False, [], Rates({"async-ps": 1.0, "md-gan": 1.0}), 2)
    assert d.decided and d.pick == ["md-gan N=2"]
    assert any(r.name == "async-ps N=2" and r.status.startswith("out: final FID detectably worse") for r in d.rows)


def test_a_leader_that_missed_on_a_seed_is_not_decided_on_three_seeds(tmp_path):
    groups = runs(tmp_path, {"fl-gan": [200, 200, None], "md-gan": [600, 600, 600]})
    d = decide(groups, WAN, TARGET, False, [], Rates({"fl-gan": 1.0, "md-gan": 1.0}), 2)
    assert not d.decided
    assert "a larger budget" in d.what_would_decide
    assert "censored at the budget: fl-gan N=2 missed on 1 seed(s)" in d.lines[0]


def test_requirements_filter_the_candidates(tmp_path):
    groups = runs(tmp_path, {"standalone": [100, 100, 100], "md-gan": [400, 500, 600]})
    rates = Rates({"standalone": 1.0, "md-gan": 1.0})
    pooled = decide(groups, WAN, TARGET, False, ["data-stays-local"], rates, 2)
    assert pooled.pick == ["md-gan N=2"] and "standalone: fails data-stays-local" in pooled.excluded[0]
    anything = decide(groups, WAN, TARGET, False, [], rates, 2)
    assert anything.pick == ["standalone"]
    assert [r.name for r in decide(groups, WAN, TARGET, False, ["no-server"], rates, 2).rows] == ["standalone"]


def test_recommendation_json_has_a_profile_entry_with_the_issue_shape(tmp_path):
    groups = runs(tmp_path, {"fl-gan": [200, 300, 300, 200], "md-gan": [400, 500, 600, 500]})
    rates = Rates({"fl-gan": 1.0, "md-gan": 2.0})
    decisions = [decide(groups, p, TARGET, False, [], rates, 2) for p in parse_profiles("datacenter,wan")]
    shape = json.loads(json.dumps(recommendation_json(decisions, False, [], TARGET)))
    assert set(shape["profiles"]) == {"datacenter", "wan"}
    assert shape["profiles"]["wan"]["decided"] is True and shape["profiles"]["wan"]["pick"] == ["fl-gan N=2"]
    assert isinstance(shape["profiles"]["wan"]["rule"], str) and "Holm" in shape["rule"]


def test_profiles_and_requirements_parse_and_refuse():
    assert [p.name for p in parse_profiles(None)] == ["datacenter", "lan", "wan", "edge"]
    assert [p.name for p in parse_profiles("wan,100mbit,30ms,edge")] == ["wan", "100mbit,30ms", "edge"]
    assert parse_requirements(None) == ["data-stays-local"] and parse_requirements("none") == []
    with pytest.raises(DistganError, match="--require expects"):
        parse_requirements("fast")
    with pytest.raises(DistganError, match="--network expects"):
        parse_profiles("moon")


def test_require_epsilon_keeps_only_private_cells_within_it(tmp_path):
    """`--require 'epsilon<=3'`: a cell trained without privacy, or whose workers spent more, is no candidate."""
    groups = runs(tmp_path, {"fl-gan": [200, 300, 300, 200], "md-gan": [400, 500, 600, 500],
                             "sync-dp": [100, 100, 100, 100]})
    for path, spent in (("fl-gan", 2.99), ("md-gan", 3.4)):
        for seed in range(4):
            summary_file = tmp_path / f"{path}_w2_s{seed}" / "summary.json"
            summary = json.loads(summary_file.read_text())
            summary["privacy"] = {"epsilon_target": 3.0, "epsilon_spent": spent, "delta": 1e-3, "clip": 1.0,
                                  "noise_multiplier": 1.1}
            summary_file.write_text(json.dumps(summary))
    groups = group_runs(load_runs(tmp_path))
    requirements = parse_requirements("data-stays-local,epsilon<=3")
    d = decide(groups, WAN, TARGET, False, requirements, Rates({"fl-gan": 1.0, "md-gan": 2.0, "sync-dp": 0.1}), 2)
    assert [r.name for r in d.rows] == ["fl-gan N=2"]
    assert d.excluded == ["md-gan N=2: fails epsilon<=3 (a worker spent epsilon 3.4)",
                          "sync-dp N=2: fails epsilon<=3 (trained without differential privacy)"]
    with pytest.raises(DistganError, match="or epsilon<=X"):
        parse_requirements("epsilon<3")
