"""What every benchmark shares: logging, the machine it ran on, and writing results as JSON and Markdown."""

from __future__ import annotations

import datetime
import json
import logging
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"
log = logging.getLogger("benchmarks")


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")


def machine() -> dict[str, Any]:
    """Where the numbers came from: cores, torch, Python, date."""
    return {"nproc": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "date": datetime.date.today().isoformat(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_results(name: str, data: dict[str, Any], markdown: str, out_dir: Path = RESULTS) -> tuple[Path, Path]:
    """Write `NAME.json` and `NAME.md` under `out_dir`, log and print their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path.write_text(markdown)
    log.info("wrote %s and %s", json_path, md_path)
    print(json_path)
    print(md_path)
    return json_path, md_path


def read_train_walls(run_dir: Path) -> dict[int, float]:
    """{step: wall_s} of every `train` record in a run's metrics.jsonl (written before samples/evaluation)."""
    walls = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "train":
            walls[int(record["step"])] = float(record["wall_s"])
    return walls


def steady_rate(run_dir: Path, warmup: int, steps: int) -> float | None:
    """Steps per second from the record at `warmup` to the record at `steps`, so start-up is left out."""
    walls = read_train_walls(run_dir)
    if warmup not in walls or steps not in walls or walls[steps] <= walls[warmup]:
        return None
    return (steps - warmup) / (walls[steps] - walls[warmup])


def study_runs(study: Any) -> dict[str, dict[int, dict[str, Any]]]:
    """Every finished cell of a `distgan compare` study: label -> seed -> {"summary", "evals"}."""
    from distgan.study import plan

    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for cell in plan(study):
        folder = Path(cell.config.out)
        evals = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
        summary = json.loads((folder / "summary.json").read_text())
        runs.setdefault(cell.label, {})[cell.seed] = {"summary": summary, "evals": evals}
    return runs


def final_fid(runs: dict[int, dict[str, Any]]) -> dict[int, float]:
    """seed -> final FID of one label's cells."""
    return {seed: run["summary"]["final_eval"]["fid"] for seed, run in runs.items()}


def paired_difference(name: str, a: dict[int, float], b: dict[int, float], digits: int = 1) -> str:
    """"NAME: d, 95% Student t CI [lo, hi] over n seeds: lower | higher | no detectable difference" for a - b,
    paired over the seeds both have."""
    import statistics

    from distgan.stats import mean_ci

    diffs = [a[s] - b[s] for s in sorted(a) if s in b]
    if len(diffs) < 2 or statistics.stdev(diffs) == 0:  # a zero-width interval is no evidence either way
        return f"{name}: {statistics.fmean(diffs):.{digits}f} over {len(diffs)} seed(s), no spread: no verdict"
    mean, low, high = mean_ci(diffs)
    verdict = "no detectable difference" if low <= 0 <= high else ("lower" if high < 0 else "higher")
    return (f"{name}: {mean:.{digits}f}, 95% Student t CI [{low:.{digits}f}, {high:.{digits}f}] over "
            f"{len(diffs)} seeds: {verdict}")
