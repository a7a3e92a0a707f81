"""The report names the machines its runs ran on, and says so when there were several kinds."""

from __future__ import annotations

from pathlib import Path

from distgan.report.content import facts
from distgan.report.load import Run

XEON = {"cpu": "Intel(R) Xeon(R) Processor", "cores": 2, "gpu": None, "torch": "2.13.0+cpu", "python": "3.11.7"}
EPYC = {**XEON, "cpu": "AMD EPYC"}


def run(seed: int, machine: dict | None) -> Run:
    summary = {"dataset": "digits", "steps": 8, "device": "cpu", **({"machine": machine} if machine else {})}
    return Run(Path(f"r{seed}"), "standalone", {"method": "standalone", "seed": seed}, summary)


def row(runs: list[Run]) -> str | None:
    return dict(facts(runs, points=True, floor=None)).get("machine (rank 0)")


def test_one_kind_of_machine_is_named_once():
    assert row([run(0, XEON), run(1, XEON)]) == "Intel(R) Xeon(R) Processor"


def test_several_kinds_are_counted_and_flagged():
    assert row([run(0, XEON), run(1, EPYC), run(2, XEON)]) == (
        "Intel(R) Xeon(R) Processor (2 runs); AMD EPYC (1 run): several kinds of machine")


def test_runs_from_before_the_field_add_no_row():
    assert row([run(0, None), run(1, None)]) is None
