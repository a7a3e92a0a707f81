"""Issue 44, item 5: `report` and `project` read a run folder as hostile input. A damaged, oddly shaped, huge or
non-regular file is one line naming the file (and line), exit 2; nothing blocks, nothing reads without bound."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from fake_runs import write_run

from helpers import refused, run_cli

RECORD = {"rank": 0, "step": 1, "updates": 1, "t0": 0.0, "ops": [["c", "D step", 0.01]]}


@pytest.fixture(autouse=True)
def no_hang():
    """A reader that blocks (a FIFO opened for reading) fails the test instead of hanging the suite."""
    def stuck(signum, frame):  # noqa: ARG001 - signal's signature
        raise TimeoutError("a reader blocked")

    before = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(120)  # generous: a report on a loaded 2-core machine takes seconds
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, before)


def traced_run(root: Path) -> Path:
    """A finished single-rank simulated run with a good trace: `project` replays it without calibrating."""
    run = write_run(root, "standalone_w1_s0", method="standalone", workers=1)
    (run / "trace.jsonl").write_text("".join(json.dumps({**RECORD, "step": s}) + "\n" for s in (1, 2)))
    return run


def test_the_good_run_projects(tmp_path, capsys):
    code, err = run_cli(capsys, "project", str(traced_run(tmp_path)), "--network", "wan")
    assert code == 0, err


@pytest.mark.parametrize("content, needles", [
    (b'{"rank": 0, "step": 1, "ops": []}\n\xff\n', ["trace.jsonl, line 2: not UTF-8"]),
    (b"garbage\n", ["trace.jsonl, line 1: not a JSON line"]),
    (b"garbage", ["trace.jsonl, line 1: not a JSON line"]),
    (b'{"step": 1, "ops": []}\n', ["trace.jsonl, line 1", "'rank' missing"]),
    (b'{"rank": 0, "step": 1}\n', ["trace.jsonl, line 1", "'ops' missing"]),
    (b'{"rank": "0", "step": 1, "ops": []}\n', ["'rank' missing or not a whole number"]),
    (b'{"rank": 0, "step": 1, "ops": [["c", "D step", "fast"]]}\n', ["item 0 of 'ops'"]),
    (b'{"rank": 0, "step": 1, "ops": [["s", "k", 1, -5, 0.1]]}\n', ["item 0 of 'ops'"]),
    (b'{"rank": 0, "step": 1, "ops": [7]}\n', ["item 0 of 'ops'"]),
    (b'{"rank": 1000000000000, "step": 1, "ops": []}\n', ["rank 1000000000000 out of range"]),
    (b'[1, 2]\n', ["trace.jsonl, line 1: a JSON list, not an object"]),
])
@pytest.mark.parametrize("command", [["project", "--network", "wan"], ["report", "--network", "wan"]])
def test_a_damaged_trace_is_one_line_naming_the_file_and_line(tmp_path, capsys, content, needles, command):
    run = traced_run(tmp_path)
    (run / "trace.jsonl").write_bytes(content)
    line = refused(capsys, command[0], str(run), *command[1:])
    assert all(n in line for n in needles) and "empty" not in line, line


@pytest.mark.parametrize("name", ["summary.json", "config.json", "metrics.jsonl", "trace.jsonl"])
@pytest.mark.parametrize("command", ["project", "report"])
def test_a_fifo_in_place_of_a_file_is_refused_without_blocking(tmp_path, capsys, name, command):
    run = traced_run(tmp_path)
    (run / name).unlink()
    os.mkfifo(run / name)
    if command == "project" and name == "metrics.jsonl":  # project does not read the metrics
        return
    line = refused(capsys, command, str(run), "--network", "wan")
    assert f"{name}: a FIFO, not a regular file" in line and "--resume" not in line, line


def test_metrics_linked_to_dev_zero_is_refused_without_reading_it(tmp_path, capsys):
    run = traced_run(tmp_path)
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").symlink_to("/dev/zero")
    line = refused(capsys, "report", str(run))
    assert "metrics.jsonl: a device, not a regular file" in line


def test_a_huge_file_is_refused_by_its_size_before_it_is_read(tmp_path, capsys):
    run = traced_run(tmp_path)
    os.truncate(run / "trace.jsonl", 3 * 2**30)  # sparse: no disk used
    line = refused(capsys, "project", str(run), "--network", "wan")
    assert "trace.jsonl: 3072 MiB, larger than the" in line
    os.truncate(run / "summary.json", 100 * 2**20)
    line = refused(capsys, "report", str(run))
    assert "summary.json: 100 MiB, larger than the 64 MiB" in line


@pytest.mark.parametrize("name, content, needles", [
    ("metrics.jsonl", b'{"type": "eval", "step": 10}\n{not json}\n{"type": "eval", "step": 20}\n',
     ["metrics.jsonl, line 2: not a JSON line"]),
    ("metrics.jsonl", b'{"type": "eval", "step": "ten"}\n', ["metrics.jsonl, line 1: 'step' is str, not a number"]),
    ("metrics.jsonl", b'{"type": "eval", "step": 10}\n\xfe\xff\n', ["metrics.jsonl, line 2: not UTF-8"]),
    ("summary.json", b'{"method": \xff}', ["summary.json, line 1: not UTF-8"]),
    ("summary.json", b'{"method": "standalone",', ["summary.json, line 1: not valid JSON"]),
    ("summary.json", b'[1]', ["summary.json: a JSON list, not an object"]),
    ("config.json", b'\x00\xff', ["config.json, line 1: not UTF-8"]),
    ("study.json", b'{"cells": [', ["study.json, line 1: not valid JSON"]),
])
def test_report_names_a_damaged_file_and_line(tmp_path, capsys, name, content, needles):
    run = traced_run(tmp_path)
    (tmp_path / name if name == "study.json" else run / name).write_bytes(content)
    line = refused(capsys, "report", str(tmp_path))
    assert all(n in line for n in needles), line


def test_a_metrics_line_cut_short_at_the_end_is_left_out(tmp_path, capsys):
    """A run still writing (or killed mid-line) leaves a last line without its newline: not damage."""
    run = traced_run(tmp_path)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"type": "eval", "st')
    code, err = run_cli(capsys, "report", str(run))
    assert code == 0, err


def test_damaged_calibration_and_compute_timing_are_named(tmp_path, capsys):
    run = traced_run(tmp_path)
    (run / "calibration.json").write_text('{"seconds_per_update": {"worker": [1, 2]}}')
    line = refused(capsys, "project", str(run), "--network", "wan", "--compute", "calibrate")
    assert "calibration.json: not a calibration" in line
    (tmp_path / "compute_timing.json").write_text('{"labels": {"standalone": {"median": "fast"}}}')
    line = refused(capsys, "report", str(tmp_path))
    assert "compute_timing.json: not a compute timing" in line
