"""Side-by-side comparison: run every (method, workers, seed) cell of a study, then build the report.

Each cell is an ordinary run folder under the study's `out`, made by `distgan.api.train`. Starting the
same study again skips the cells whose `summary.json` exists, resumes a cell that stopped part-way from its
last checkpoint (as `distgan train --resume` does), and starts the others afresh. `cells` picks a subset by
folder name, so one study can run in parts: in turn, or in several processes given disjoint subsets.

    from distgan.compare import Study, compare
    compare(Study(methods=["standalone", "md-gan"], workers=[2, 4], dataset="digits", steps=300))
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from distgan import compute_timing, run_folder
from distgan.checkpoint import atomic_write_json, load_checkpoint
from distgan.errors import DistganError
from distgan.methods import REGISTRY
from distgan.run_files import make_dirs
from distgan.safe_read import UnreadableFile, read_json, read_object
from distgan.study import Cell, Study, plan

log = logging.getLogger(__name__)


def compare(study: Study) -> Path:
    """Run every unfinished cell (a failed cell is recorded and the study goes on), then build the report. (With
    `until_decided`, api.compare runs distgan/sequential.py instead, which adds seeds where the pick is undecided.)"""
    study, cost = plan_cost(study)
    cells = plan(study)
    chosen = select(cells, study.cells)
    started = time.monotonic()
    failures = run_cells(study, chosen, cells, {"cost": cost or _recorded_cost(study)})
    return finish(study, failures, started if cost else None)


def plan_cost(study: Study) -> tuple[Study, dict[str, Any] | None]:
    """The study as it will run (sized to --time-budget where one is given without --until-decided) and what its
    unfinished cells will cost, from a pilot of each method (distgan/estimate.py); logged before any cell runs.
    None when every cell has finished."""
    from distgan import estimate

    cells = plan(study)
    pending = [c for c in select(cells, study.cells) if not _finished(c)]
    if not pending or not study.estimate:
        return study, None
    jobs = study.jobs or os.cpu_count() or 1
    _warm_classifier(pending[0])
    log.info("timing a pilot of %d updates of each method, to estimate the study's cost",
             estimate.PILOT_STEPS)
    pilots = estimate.pilots(pending, compute_timing.default_threads(jobs, study.threads), run_cell)
    timed_apart = compute_timing.needed(study)

    def seconds(candidate: Study) -> float:
        unfinished = [c for c in select(plan(candidate), candidate.cells) if not _finished(c)]
        return estimate.study_seconds(unfinished, pilots, jobs, timed_apart)["total_s"]

    chosen_text = None
    if study.time_budget and not study.until_decided:
        study, chosen_text = estimate.fit(study, plan, seconds, study.time_budget)
        log.info("%s", chosen_text)
        pending = [c for c in select(plan(study), study.cells) if not _finished(c)]
    cost = estimate.study_seconds(pending, pilots, jobs, timed_apart)
    if chosen_text:
        cost["sized"] = chosen_text
    log.info("%s", estimate.describe(cost))
    return study, cost


def _warm_classifier(cell: Cell) -> None:
    """Train (or load) the metrics classifier once here, so that no pilot's evaluation pays for it."""
    from distgan.data.registry import load_dataset
    from distgan.training import make_evaluator_for

    make_evaluator_for(cell.config, load_dataset(cell.config.dataset))


def run_cells(study: Study, chosen: list[Cell], every: list[Cell], record: dict[str, Any] | None = None
              ) -> list[dict[str, Any]]:
    """Run the chosen cells that have not finished; study.json lists `every` cell (and `record`'s extra keys).
    Returns the failures."""
    _check_datasets(chosen)
    out = make_dirs(study.out)
    atomic_write_json(out / "study.json", {**_study_record(study, every), **(record or {})})
    failures: list[dict[str, Any]] = []
    jobs = study.jobs or os.cpu_count() or 1
    with logging_redirect_tqdm(), tqdm(chosen, desc="compare", unit="cell", disable=not study.progress,
                                       dynamic_ncols=True) as bar:
        pending = []
        for i, cell in enumerate(chosen, 1):
            if _finished(cell):
                log.info("[%d/%d] %s: finished before, skipped", i, len(chosen), cell.name)
                bar.update()
            else:
                pending.append(cell)
        for cell, error in _run_cells(pending, jobs, study.threads, bar):
            if error:
                failures.append({"cell": cell.name, "label": cell.label, "workers": cell.workers,
                                 "seed": cell.seed, "error": error})
            _write_failures(out, chosen, failures)
    _write_failures(out, chosen, failures)
    if len(failures) == len(chosen) and not any(out.rglob(run_folder.CONFIG)):
        raise DistganError(f"every cell failed before it started (first: {failures[0]['error']}); "
                           f"see {out / 'failures.json'}")
    return failures


def finish(study: Study, failures: list[dict[str, Any]], started: float | None = None) -> Path:
    """Time each method's compute apart from the cells (simulated studies, once), record the time this part took
    beside its estimate, then build the report."""
    if compute_timing.needed(study) and not failures:
        log.info("timing each method's compute apart from the cells (%s)", compute_timing.FILE)
        compute_timing.time_compute(study, plan(study), compute_timing.default_threads(
            study.jobs or os.cpu_count() or 1, study.threads), run_cell, _pilot_rates(study))
    if started is not None:
        _record_measured(study, time.monotonic() - started)
    from distgan.report import build_report

    return build_report(study.out, equivalence_margin=study.equivalence_margin, network=study.network,
                        require=study.require, margin=study.margin, quality_margin=study.quality_margin)


def _run_cells(cells: list[Cell], jobs: int, threads: int, bar: tqdm):
    """Run the cells, `jobs` at a time in processes of their own, each with its share of the cores; yield each
    cell with why it failed (None when it finished), as they end."""
    if jobs <= 1 or len(cells) <= 1:
        for cell in cells:
            bar.set_postfix_str(cell.name)
            # the line says where the study stands even when a rank process draws over the bar
            log.info("%s: %s x%d, seed %d", cell.name, cell.label, cell.workers, cell.seed)
            yield cell, run_cell(cell)
            bar.update()
        return
    share = threads or max(1, (os.cpu_count() or 1) // jobs)
    side_by_side = [dataclasses.replace(c, config=dataclasses.replace(c.config, threads=share, progress=False))
                    for c in cells]
    log.info("running %d cells, %d side by side with %d torch thread(s) each", len(cells), jobs, share)
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(run_cell, c): c for c in side_by_side}
        for future in as_completed(futures):
            cell = futures[future]
            try:
                error = future.result()
            except Exception as e:  # noqa: BLE001 - a cell's process died; the report lists it
                error = f"{type(e).__name__}: {e}"
            log.info("%s: %s", cell.name, "finished" if error is None else f"failed: {error}")
            bar.set_postfix_str(cell.name)
            bar.update()
            yield cell, error
    except BaseException:
        _stop_pool(pool)  # SIGTERM or Ctrl-C: without this the pool would run every queued cell before exiting
        raise
    pool.shutdown()


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued cells and end the running ones; each resumes from its last checkpoint next time."""
    workers = list((getattr(pool, "_processes", None) or {}).values())  # the executor has no public handle on them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
    for process in workers:
        process.join(timeout=10)


def _check_datasets(cells: list[Cell]) -> None:
    """Load each dataset once up front, so a bad --dataset fails the study before its first cell."""
    from distgan.data.registry import load_dataset

    for name in dict.fromkeys(c.config.dataset for c in cells):
        load_dataset(name)


def select(cells: list[Cell], patterns: list[str]) -> list[Cell]:
    """The cells whose folder name matches one of the globs (all of them when there are none)."""
    if not patterns:
        return cells
    chosen = [c for c in cells if any(fnmatch.fnmatchcase(c.name, p) for p in patterns)]
    if not chosen:
        raise DistganError(f"--cells {','.join(patterns)} matches none of the study's {len(cells)} cells "
                           f"(such as {cells[0].name}); give globs of those folder names, e.g. 'md-gan*_w10_*'")
    return chosen


def _write_failures(out: Path, chosen: list[Cell], failures: list[dict[str, Any]]) -> None:
    """failures.json: this part's failures, and those another part recorded for the cells it ran."""
    mine = {c.name for c in chosen}
    try:
        before = read_json(out / "failures.json", missing=[])
    except (OSError, UnreadableFile):
        before = []
    others = [f for f in before if isinstance(f, dict) and f.get("cell") not in mine]
    atomic_write_json(out / "failures.json", others + failures)


def run_cell(cell: Cell) -> str | None:
    """Train one cell, from its last checkpoint if it stopped part-way; return why it failed, or None."""
    from distgan.training import train

    config = cell.config
    if _resumable(cell):
        log.info("cell %s stopped part-way: resuming from its checkpoint", cell.name)
        config = dataclasses.replace(config, resume=True)
    else:
        _clear(Path(config.out))
    try:
        train(config)
    except DistganError as e:
        error = str(e)
    except Exception as e:  # noqa: BLE001 - one broken cell must not end a long study; the report lists it
        log.exception("cell %s failed", cell.name)
        error = f"{type(e).__name__}: {e}"
    else:
        if _finished(cell):
            return None
        error = "the run ended without writing summary.json (rank 0 died?)"
    log.error("cell %s failed: %s", cell.name, error)
    return error


def _finished(cell: Cell) -> bool:
    """A cell is done when its summary exists; warn if it was run with other settings."""
    folder = Path(cell.config.out)
    if not (folder / run_folder.SUMMARY).is_file():
        return False
    try:
        done = read_object(folder / run_folder.CONFIG)
    except (OSError, UnreadableFile):
        return True
    differ = _settings_differ(cell, done, after_crash=bool(_read_summary_failures(folder)))
    if differ:
        log.warning("cell %s finished with other settings (%s); delete the folder to rerun it",
                    cell.name, ", ".join(f"{k}={done.get(k, done.get('options', {}).get(k))!r}" for k in differ))
    return True


def _resumable(cell: Cell) -> bool:
    """A cell stopped part-way with this study's settings and a checkpoint of rank 0 to go on from."""
    folder = Path(cell.config.out)
    checkpoint = folder / run_folder.rank_checkpoint(0)
    if not checkpoint.is_file():
        return False
    try:
        done = read_object(folder / run_folder.CONFIG)
        step = int(load_checkpoint(checkpoint)["step"])
    except (OSError, DistganError, KeyError, TypeError, ValueError):
        return False
    # a restart after a crash rewrites workers and fail in config.json: such a cell starts afresh, as does one
    # stopped while it wrote its summary (its checkpoint is at the last step, with nothing left to resume)
    return step < cell.config.steps and not _settings_differ(cell, done, after_crash=False)


def _settings_differ(cell: Cell, done: dict[str, Any], after_crash: bool) -> list[str]:
    """The settings in which the run folder's config.json differs from what the study wants of the cell."""
    wanted = cell.config.to_dict()
    ignored = {"out", "progress", "resume", "is_resolved", "run_id"}
    if after_crash:  # a restart after a crash rewrites workers and fail in config.json
        ignored |= {"workers", "fail"}
    # a setting left to the data (None: batch size, learning rates) matches whatever the run resolved it to
    differ = [k for k in wanted if k not in ignored and k in done and wanted[k] is not None and done[k] != wanted[k]
              and k != "options"]
    from distgan.method_spec import saved_meaning

    saved = saved_meaning(REGISTRY[cell.config.method], done.get("options") or {})
    differ += [k for k, v in wanted["options"].items() if saved.get(k, v) != v]
    return differ


def _read_summary_failures(folder: Path) -> list:
    try:
        return read_object(folder / run_folder.SUMMARY).get("failures") or []
    except (OSError, UnreadableFile):
        return []


def _clear(folder: Path) -> None:
    """Remove an unfinished cell's folder so it reruns from scratch; refuse to touch anything else."""
    if not folder.exists():
        return
    if not (folder / run_folder.CONFIG).is_file() and any(folder.iterdir()):
        raise DistganError(f"{folder} exists and is not a distgan run folder; move it or pick another --out")
    shutil.rmtree(folder)


def _pilot_rates(study: Study) -> dict[str, float]:
    """Seconds per update of each label's pilot, from study.json's cost (empty where there was none)."""
    cost = _recorded_cost(study) or {}
    labels = cost.get("per_label") if isinstance(cost.get("per_label"), dict) else {}
    return {label: entry["per_update"] for label, entry in labels.items()
            if isinstance(entry, dict) and isinstance(entry.get("per_update"), (int, float))}


def _recorded_cost(study: Study) -> dict[str, Any] | None:
    """The cost an earlier part of this study recorded (kept when this part has nothing left to run)."""
    try:
        cost = read_object(Path(study.out) / "study.json", missing={}).get("cost")
    except (OSError, UnreadableFile):
        return None
    return cost if isinstance(cost, dict) else None


def _record_measured(study: Study, seconds: float) -> None:
    """study.json's cost gets the wall time its cells (and compute timing) took, beside the estimate."""
    path = Path(study.out) / "study.json"
    try:
        record = read_object(path)
    except (OSError, UnreadableFile):
        return
    if isinstance(record.get("cost"), dict):
        record["cost"]["measured_s"] = round(seconds, 1)
        atomic_write_json(path, record)


def _study_record(study: Study, cells: list[Cell]) -> dict[str, Any]:
    """`study.json`: the study and its cells, so the report knows labels and order."""
    record = asdict(study)
    record.pop("progress")
    if record["reference"] is None:
        record["reference"] = "standalone" if "standalone" in study.methods else study.methods[0]
    record["cells"] = [{"folder": c.name, "label": c.label, "method": c.config.method, "workers": c.workers,
                        "seed": c.seed} for c in cells]
    return record
