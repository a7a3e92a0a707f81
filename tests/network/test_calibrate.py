"""The calibration never makes a phase slower than the run traced it: a slower timing measured the machine's drift."""

from __future__ import annotations

import json

import pytest

from distgan.data.registry import load_dataset
from distgan.launch import run_simulated
from distgan.network.calibrate import calibrate, phase_seconds
from distgan.network.profiles import IDEAL
from distgan.network.project import projector
from distgan.transport.trace import read_trace
from helpers import small_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cal") / "run"
    config = small_config(out, method="md-gan", workers=2, backend="sim", steps=6, tensorboard=False).validate()
    dataset = load_dataset(config.dataset)
    run_simulated(config.resolved(dataset), dataset, None)
    return out


def test_a_phase_timed_slower_than_the_run_traced_it_is_capped_at_the_trace(run):
    traced = phase_seconds(read_trace(run / "trace.jsonl"), has_server=True)
    timed = {who: {label: s * (3.0 if who == "server" else 0.5) for label, s in phases.items()}
             for who, phases in traced.items()}
    (run / "calibration.json").write_text(json.dumps({"steps": 6, "threads": 1, "seconds_per_update": timed}))

    result = calibrate(run)

    for label, s in traced["server"].items():  # timed 3x the trace, as on the FACTS md-gan run: the trace wins
        assert result["seconds_per_update"]["server"][label] == pytest.approx(s)
    for label, s in traced["worker"].items():  # timed faster, as alone it should be: the calibration wins
        assert result["seconds_per_update"]["worker"][label] == pytest.approx(0.5 * s)
    assert result["timed_seconds_per_update"] == timed


def test_calibrated_compute_is_never_longer_than_the_traced_compute(run):
    traced = phase_seconds(read_trace(run / "trace.jsonl"), has_server=True)
    (run / "calibration.json").write_text(json.dumps(
        {"steps": 6, "threads": 1, "seconds_per_update": {who: {label: 10 * s for label, s in phases.items()}
                                                          for who, phases in traced.items()}}))

    calibrated, _ = projector(run, compute="calibrate")
    as_traced, _ = projector(run, compute="trace")

    assert calibrated(IDEAL).wall_s == pytest.approx(as_traced(IDEAL).wall_s)
