"""Helpers for tests that run small training runs."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from distgan.config import RunConfig, config_from_mapping


def small_config(out: Path, **overrides) -> RunConfig:
    """A run that takes seconds: digits, tiny batches, no progress bar, evaluation on few samples.

    Method settings (k, local_steps, ...) go in beside the others, as in a TOML file.
    """
    values = dict(dataset="digits", steps=12, batch_size=8, seed=3, out=str(out), progress=False, log_every=4,
                  sample_every=100, checkpoint_every=100, eval_samples=200)
    if overrides.get("method") in ("fl-gan", "fe-gan"):
        values["local_steps"] = 3
    values.update(overrides)
    return config_from_mapping(values, "test")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def final_state(out: Path) -> dict:
    return torch.load(Path(out) / "checkpoint.pt", weights_only=True)


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    """Run `distgan ARGV` in this process; return its exit code and what it wrote to stderr."""
    from distgan.cli import main

    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own exits
        code = e.code
    return code, capsys.readouterr().err


def refused(capsys, *argv: str) -> str:
    """Run `distgan ARGV`, assert it was refused as bad input (exit 2, one line, no traceback); return the line."""
    code, err = run_cli(capsys, *argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def read_summary(out: Path) -> dict:
    """A finished run's summary.json."""
    return json.loads((Path(out) / "summary.json").read_text())
