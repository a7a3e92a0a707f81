"""Read run folders (see docs/run-format.md) and a study's `study.json` and `failures.json`."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distgan import run_folder
from distgan.errors import DistganError
from distgan.safe_read import bad_line, read_json, read_jsonl, read_object

log = logging.getLogger(__name__)


@dataclass
class Run:
    """One run folder: its config, its summary (None while unfinished) and its evaluation lines."""

    path: Path
    label: str
    config: dict[str, Any]
    summary: dict[str, Any] | None
    evals: list[dict[str, Any]] = field(default_factory=list)
    sample: Path | None = None  # the last samples/step_*.png
    planned_workers: int | None = None  # what the study asked for; a restart after a crash may run fewer

    @property
    def method(self) -> str:
        return self.config.get("method", "?")

    @property
    def workers(self) -> int:
        return self.planned_workers or int(self.config.get("workers", 1))

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))


def load_runs(root: Path) -> list[Run]:
    """Every run folder at or under `root` (a folder holding config.json), in the study's order if known."""
    root = Path(root)
    if not root.is_dir():
        raise DistganError(f"{root}: no such folder; give the --out folder of `distgan compare` or a run folder")
    folders = sorted({p.parent for p in root.rglob(run_folder.CONFIG)})
    if not folders:
        raise DistganError(f"{root} holds no run folders (none has config.json); run `distgan compare` first")
    cells, order = _study_cells(root)
    runs = [_load_run(f, cells.get(str(f.relative_to(root)), {})) for f in folders]
    labels = {folder: cell["label"] for folder, cell in cells.items()}
    _relabel_clashes(runs, labels, root)
    return sorted(runs, key=lambda r: (order.get(r.label, len(order)), r.label, r.workers, r.seed))


def load_study(root: Path) -> dict[str, Any] | None:
    return _read_json(Path(root) / "study.json")


def load_failures(root: Path) -> list[dict[str, Any]]:
    """Cells that `distgan compare` could not finish (`failures.json`), or none."""
    failures = _read_json(Path(root) / "failures.json")
    return failures if isinstance(failures, list) else []


def _study_cells(root: Path) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """study.json's cells by folder (label, planned workers) and its method order."""
    study = load_study(root) or {}
    cells = {c["folder"]: c for c in study.get("cells", []) if "folder" in c and "label" in c}
    order = {label: i for i, label in enumerate(study.get("methods", []))}
    return cells, order


def _relabel_clashes(runs: list[Run], labels: dict[str, str], root: Path) -> None:
    """Without study.json, two runs of one method, worker count and seed differ in settings; name them by folder."""
    seen: dict[tuple[str, int, int], int] = {}
    for run in runs:
        key = (run.label, run.workers, run.seed)
        seen[key] = seen.get(key, 0) + 1
    for run in runs:
        if seen[(run.label, run.workers, run.seed)] > 1 and str(run.path.relative_to(root)) not in labels:
            run.label = re.sub(r"_w\d+_s\d+$", "", run.path.name) if run.path != root else run.label


def _load_run(folder: Path, cell: dict[str, Any]) -> Run:
    config = _read_object(folder / run_folder.CONFIG) or {}
    summary = _read_object(folder / run_folder.SUMMARY)
    if summary is not None and (problem := _summary_problem(summary)):
        log.warning("%s: %s; the run is treated as unfinished", folder / run_folder.SUMMARY, problem)
        summary = None
    evals = [r for r in _read_jsonl(folder / run_folder.METRICS) if r.get("type") == "eval"]
    samples = sorted((folder / run_folder.SAMPLES).glob("step_*.png"))
    planned = cell.get("workers")
    return Run(path=folder, label=cell.get("label") or config.get("method", folder.name), config=config,
               summary=summary, evals=_dedupe_steps(evals), sample=samples[-1] if samples else None,
               planned_workers=planned if isinstance(planned, int) else None)


def _dedupe_steps(evals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One evaluation per step (the last one written), in step order."""
    by_step = {int(e.get("step", 0)): e for e in evals}
    return [by_step[s] for s in sorted(by_step)]


def _read_json(path: Path) -> Any:
    return read_json(path, missing=None)


# what the report reads of a summary, and the type each must have
SUMMARY_TYPES = {"final_eval": dict, "bytes": dict, "peak_rss_mb": dict, "failures": list, "wall_s": (int, float),
                 "steps": int, "g_updates": int, "workers": int}


def _summary_problem(summary: dict[str, Any]) -> str | None:
    for key, kind in SUMMARY_TYPES.items():
        if key in summary and summary[key] is not None and not isinstance(summary[key], kind):
            return f"{key!r} is {type(summary[key]).__name__}, not {getattr(kind, '__name__', 'a number')}"
    return None


def _read_object(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`, None when there is no such file; anything else there is an UnreadableFile."""
    return read_object(path, missing=None)


# what the report reads of an evaluation line, and the type each must have
EVAL_NUMBERS = ("step", "g_updates", "wall_s", "bytes_sent", "bytes_recv", "real_images", "fake_samples")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl's lines (none when there is no such file); a line of the wrong shape is an UnreadableFile."""
    try:
        rows = read_jsonl(path)
    except FileNotFoundError:
        return []
    for number, record in rows:
        for key in EVAL_NUMBERS:
            value = record.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise bad_line(path, number, f"{key!r} is {type(value).__name__}, not a number")
        if "type" in record and not isinstance(record["type"], str):
            raise bad_line(path, number, "'type' is not a string")
    return [record for _, record in rows]
