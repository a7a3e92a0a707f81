"""`distgan compare --until-decided`: seeds go only to the methods of undecided profiles, in a fixed number of
looks at alpha / looks each, within the time budget. The cells and the report are stand-ins here (the rule itself
is tested in tests/report/test_recommend.py), so the test checks the allocation and the record."""

from __future__ import annotations

import json

import pytest

from distgan import compare, sequential
from distgan.errors import DistganError
from distgan.study import Study, parse_duration


def fake_study(tmp_path, monkeypatch, outcomes: list[dict], budget: float = 0.0):
    """Run until_decided with each look's recommendation.json taken from `outcomes`; return the cells each look
    ran."""
    looks: list[list[str]] = []

    def run_cells(study, chosen, every, record=None):
        looks.append(sorted(c.name for c in chosen))
        return []

    def finish(study, failures):
        entry = outcomes[min(len(looks), len(outcomes)) - 1]
        profiles = entry["profiles"] if "profiles" in entry else {"wan": entry}
        (tmp_path / "recommendation.json").write_text(json.dumps({"profiles": profiles}))
        return tmp_path / "report.html"

    monkeypatch.setattr(compare, "plan_cost", lambda study: (study, None))  # no pilots: the cells are stand-ins
    monkeypatch.setattr(compare, "run_cells", run_cells)
    monkeypatch.setattr(compare, "finish", finish)
    study = Study(methods=["standalone", "fl-gan", "md-gan", "gossip-gan"], workers=[2], seeds=3, steps=40,
                  dataset="ring8", out=str(tmp_path), until_decided=True, time_budget=budget, progress=False)
    sequential.until_decided(study)
    return looks, json.loads((tmp_path / "study.json").read_text())


UNDECIDED = {"decided": False, "open_contrasts": [{"method": "md-gan N=2", "label": "md-gan", "workers": 2},
                                                  {"method": "gossip-gan N=2", "label": "gossip-gan", "workers": 2}]}
DECIDED = {"decided": True, "open_contrasts": []}
OPEN_FL = {"decided": False, "open_contrasts": [{"method": "fl-gan N=2", "label": "fl-gan", "workers": 2}]}
PICKED = {"decided": True, "pick": "fl-gan N=2", "workers": 2, "regret_bound": 1.08, "within_margin": ["fl-gan N=2"],
          "margin": 0.2, "quality_margin": 0.25, "open_contrasts": []}


def test_a_profile_keeps_the_pick_of_the_look_that_decided_it(tmp_path, monkeypatch):
    """wan is decided at look 1; edge is not. Look 2 adds seeds for edge's open contrasts only, and wan keeps its
    pick although look 2's seeds leave it undecided: a fourth look at wan is one the level does not pay for."""
    looks, record = fake_study(tmp_path, monkeypatch, [
        {"profiles": {"wan": PICKED, "edge": UNDECIDED}},
        {"profiles": {"wan": OPEN_FL, "edge": DECIDED | {"pick": "md-gan N=2", "workers": 2}}}])
    assert looks[1] == ["gossip-gan_w2_s3", "gossip-gan_w2_s4", "md-gan_w2_s3", "md-gan_w2_s4"]  # not fl-gan's
    assert record["decided_at"]["wan"] == {"look": 1, "pick": "fl-gan N=2", "workers": 2, "regret_bound": 1.08,
                                           "within_margin": ["fl-gan N=2"], "margin": 0.2, "quality_margin": 0.25,
                                           "verdict": None}
    assert record["decided_at"]["edge"]["look"] == 2 and record["decided_at"]["edge"]["pick"] == "md-gan N=2"
    assert [s["decided"] for s in record["stages"]] == [["wan"], ["edge"]]
    assert record["stages"][-1]["outcome"] == "every profile decided"


def test_seeds_go_only_to_the_open_contrasts_until_decided(tmp_path, monkeypatch):
    looks, record = fake_study(tmp_path, monkeypatch, [UNDECIDED, DECIDED])
    assert len(looks) == 2 and len(looks[0]) == 4 * 3  # look 1: every method on seeds 0-2
    assert looks[1] == ["gossip-gan_w2_s3", "gossip-gan_w2_s4", "md-gan_w2_s3", "md-gan_w2_s4"]
    assert record["looks"] == sequential.MAX_LOOKS
    assert [s["outcome"] for s in record["stages"]][-1] == "every profile decided"
    assert {c["folder"] for c in record["cells"]} >= set(looks[1])  # the report knows the new cells' labels


def test_it_stops_after_its_looks_and_when_the_budget_is_spent(tmp_path, monkeypatch):
    looks, record = fake_study(tmp_path, monkeypatch, [UNDECIDED])
    assert len(looks) == sequential.MAX_LOOKS and looks[2][0].endswith("_s5")
    assert record["stages"][-1]["outcome"].startswith(f"stopped after {sequential.MAX_LOOKS} looks")
    looks, record = fake_study(tmp_path / "b", monkeypatch, [UNDECIDED], budget=1e-9)
    assert len(looks) == 1 and record["stages"][0]["outcome"].startswith("budget spent")


def test_durations_parse_and_refuse():
    assert parse_duration("20m") == 1200 and parse_duration("1h30m") == 5400 and parse_duration("900") == 900
    for bad in ("soon", "", "20 minutes"):
        with pytest.raises(DistganError, match="--time-budget must be a duration such as 20m"):
            parse_duration(bad)


def test_the_report_shows_the_kept_pick_beside_what_every_seed_now_says():
    from types import SimpleNamespace

    from distgan.report.pick import keep_earlier_decisions

    now = SimpleNamespace(profile=SimpleNamespace(name="wan"), workers=2, decided=False, pick="", regret_bound=1.4,
                          margin=0.2)
    rows = [["wan: 100 Mbit/s", "2", "undecided", "1.40x (leader)", "-", "no: about 12 seeds"]]
    recommendation = {"profiles": {"wan": {"decided": False, "pick": "", "workers": 2, "regret_bound": 1.4,
                                           "within_margin": []}}}
    section = SimpleNamespace(verdict="Undecided on wan.")
    kept = keep_earlier_decisions([now], rows, [section], recommendation, {"wan": PICKED | {"look": 1}})
    assert section.verdict == ("Decided at look 1: pick fl-gan N=2, regret bound 1.08x. With every seed of the "
                               "later looks: Undecided on wan.")
    assert kept[0][2:] == ["fl-gan N=2", "1.08x", "-", "yes, at look 1, margin 1.20x (on every seed of the later "
                                                        "looks: undecided)"]
    entry = recommendation["profiles"]["wan"]
    assert entry["decided"] and entry["pick"] == "fl-gan N=2" and entry["regret_bound"] == 1.08
    assert entry["decided_at_look"] == 1 and entry["last_look"] == {"decided": False, "pick": "", "regret_bound": 1.4,
                                                                    "within_margin": []}
