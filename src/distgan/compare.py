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
import json
import logging
import multiprocessing
import os
import re
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from distgan import run_folder, stats
from distgan.checkpoint import atomic_write_json, load_checkpoint
from distgan.config import FIELDS, RunConfig, config_from_mapping
from distgan.errors import DistganError
from distgan.methods import REGISTRY, option_owners

log = logging.getLogger(__name__)

# The default study, chosen by measurement to decide within 15 minutes on 2 cores (docs/compare.md). fe-gan is
# left out: with iid shards and every worker selected each round, FeGAN's balanced sampling selects every device
# and its KL weights are near uniform, so it trains as fl-gan does and no number of seeds here tells them apart.
DEFAULT_METHODS = ("standalone", "sync-dp", "async-ps", "fl-gan", "md-gan")
DEFAULT_WORKERS = 2
DEFAULT_DATASET = "digits"
DEFAULT_PARTITION = "iid"
DEFAULT_STEPS = 800
DEFAULT_SEEDS = 5  # paired seeds are cheap when cells run side by side; 3 is the fewest for an interval
DEFAULT_BACKEND = "sim"  # the same numbers as processes for fl-gan and md-gan; wall time comes from the projection
DEFAULT_TARGET = 20.0  # FID on digits, about 10x its floor: every seed of every default method reaches it
DEFAULT_EVAL_EVERY = 20  # fl-gan's round: a time to target is known to one evaluation interval
DEFAULT_BATCH_SIZE = None  # by data: 256 for 2-D points, 64 for images
DEFAULT_OUT = "runs/compare"
EVALS_PER_RUN = 5  # eval_every = steps // EVALS_PER_RUN unless the study sets it

# The MD-GAN paper's comparison (Hardy et al. 2019) scaled to a 2-core machine: workers use b=10 as in the paper,
# and every cell gets PAPER_STEPS generator updates. The preset's notes (mdgan_paper) list every difference from
# the paper: an unconditional GAN, not its ACGAN; 8x8 digits, not MNIST; N up to 10, not its 1, 10, 25 and 50;
# a far smaller budget. On mnist5k the DCGAN pair is still at 26 to 39x its FID floor after 1,000 updates at
# b=10, and a budget where it flattens would take days here. On digits standalone b=10 has flattened by 12,000
# updates (mean FID of 3 seeds 3.9 at 10,000, 3.6 at 12,000, 3.5 at 15,000, 3.3 at 20,000; docs/results.md).
# Its cells run on the simulated transport: 11 processes would oversubscribe 2 cores, and simulated ranks compute
# in turns, with the same numbers as processes for fl-gan and md-gan. Three paired seeds, as every published
# comparison has; the study resumes and runs in parts (--cells).
PAPER_STEPS = 12000
PAPER_WORKERS = (1, 2, 4, 8, 10)
PAPER_SEEDS = 3


@dataclass(kw_only=True)
class Study:
    """What to compare. A method entry is a label whose first word is the method ("md-gan k=log");
    `overrides[label]` holds RunConfig fields for that label's cells, and may hold `workers` as a list of
    the worker counts that label runs at."""

    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    workers: list[int] = field(default_factory=lambda: [DEFAULT_WORKERS])
    dataset: str = DEFAULT_DATASET
    partition: str = DEFAULT_PARTITION
    steps: int = DEFAULT_STEPS
    seeds: int = DEFAULT_SEEDS
    backend: str = DEFAULT_BACKEND
    out: str = DEFAULT_OUT
    batch_size: int | None = DEFAULT_BATCH_SIZE
    eval_every: int = 0  # 0: steps // EVALS_PER_RUN
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # shown in the report
    progress: bool = True
    reference: str | None = None  # the label every other cell is paired with; None: standalone, else the first
    target: float | None = None  # time to target: FID (images) or high-quality share (2-D points); None: default
    margin: str | None = None  # equivalence margin of the quality verdicts, "5" or "10%"; None: 10% of the reference
    cells: list[str] = field(default_factory=list)  # run only the cells whose folder matches one of these globs
    threads: int = 0  # torch threads per rank process (sim: per study process); 0 shares the cores
    jobs: int = 0  # cells run side by side, each with its share of the cores; 0: one per core
    network: str | None = None  # profiles `## Which method to pick` projects onto; None: datacenter,lan,wan,edge
    require: str | None = None  # what a recommended method must offer; None: data-stays-local


@dataclass(frozen=True)
class Cell:
    """One run of the study: a label at a worker count and a seed."""

    label: str
    workers: int
    seed: int
    config: RunConfig

    @property
    def name(self) -> str:
        return Path(self.config.out).name


def default_study(**changes: Any) -> Study:
    """`distgan compare` with no flags: the study the README's main job runs."""
    study = Study(target=DEFAULT_TARGET, eval_every=DEFAULT_EVAL_EVERY, notes=[
        "Default study: fe-gan is left out, since with iid shards and every worker selected each round it trains "
        "as fl-gan does (balanced sampling selects every device, and its KL weights are near uniform); compare "
        "them on non-iid data (--partition dirichlet:0.3 --methods fl-gan,fe-gan).",
        f"Target FID <= {DEFAULT_TARGET:g} on digits (about 10x the real-vs-real floor): the budget reaches it on "
        "every seed of every method here, so time to target can be compared on every network profile."])
    for name, value in changes.items():
        setattr(study, name, value)
    return study


def mdgan_paper(**changes: Any) -> Study:
    """The MD-GAN paper's comparison on digits (the paper: MNIST): standalone b=10 and b=100, FL-GAN E=1,
    MD-GAN k=1 and k=log."""
    md_gan_options = REGISTRY["md-gan"].options(k="log")
    log_k_workers = [n for n in PAPER_WORKERS if md_gan_options.resolved_k(n) > 1]
    study = Study(
        methods=["standalone b=10", "standalone b=100", "fl-gan E=1", "md-gan k=1", "md-gan k=log"],
        workers=list(PAPER_WORKERS), dataset="digits", partition="iid", steps=PAPER_STEPS, batch_size=10,
        seeds=PAPER_SEEDS, backend="sim", out="runs/mdgan-paper", eval_every=PAPER_STEPS // 12,
        overrides={"standalone b=100": {"batch_size": 100}, "fl-gan E=1": {"local_epochs": 1.0},
                   "md-gan k=1": {"k": "1"}, "md-gan k=log": {"k": "log", "workers": log_k_workers}},
        notes=[
            "MD-GAN paper preset: every worker uses b=10, as in the paper. Where it differs from the paper:",
            "model: the paper trains an ACGAN (a class-conditional G, and a D that also classifies); distgan trains "
            "an unconditional GAN (the same DCGAN-style pair for every method).",
            "data: scikit-learn's 8x8 digits stand in for the paper's MNIST, whose DCGAN pair does not converge "
            "within a CPU budget.",
            f"workers: N in {', '.join(map(str, PAPER_WORKERS))}; the paper's N are 1, 10, 25 and 50.",
            f"budget: {PAPER_STEPS} generator updates per cell, far fewer than the paper ran; by then standalone "
            "b=10 has flattened on digits.",
            "transport: simulated (ranks compute in turns, so wall time is the sum of every rank's compute); "
            "FID and bytes are what processes give.",
            "md-gan k=log runs only where ceil(log2 N) > 1, since below that it is the k=1 cell."],
    )
    for name, value in changes.items():
        setattr(study, name, value)
    return study


STRAGGLER_FACTORS = (1, 4, 16)


def stragglers(**changes: Any) -> Study:
    """Each server method's tolerance of one straggler: worker rank 2 made 1, 4 and 16 times slower."""
    labels = {f"{m} x{f}": f for m in ("fl-gan", "md-gan", "async-ps") for f in STRAGGLER_FACTORS}
    study = Study(methods=list(labels), workers=[3], dataset="digits", steps=300, out="runs/stragglers",
                  backend="process", seeds=3,
                  overrides={label: {"slow": [f"2:{f}"]} if f > 1 else {} for label, f in labels.items()},
                  notes=["Stragglers preset: rank 2 computes FACTOR times slower (--slow 2:FACTOR); the report "
                         "plots the wall time to the target against the factor."])
    for name, value in changes.items():
        setattr(study, name, value)
    return study


PRESETS = {"mdgan-paper": mdgan_paper, "stragglers": stragglers}


def preset(name: str, **changes: Any) -> Study:
    """The named preset study, with `changes` applied on top."""
    if name not in PRESETS:
        raise DistganError(f"unknown --preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name](**changes)


def plan(study: Study) -> list[Cell]:
    """Every cell of the study, validated before anything runs; standalone runs once per seed."""
    _check_study(study)
    cells = []
    for label in study.methods:
        method = label.split()[0]
        extra = dict(study.overrides.get(label, {}))
        worker_counts = [1] if method == "standalone" else extra.pop("workers", study.workers)
        extra.pop("workers", None)
        for workers in sorted(set(worker_counts)):
            for seed in range(study.seeds):
                cells.append(Cell(label, workers, seed, _cell_config(study, label, workers, seed, extra)))
    return cells


def _cell_config(study: Study, label: str, workers: int, seed: int, extra: dict[str, Any]) -> RunConfig:
    name = f"{slug(label)}_w{workers}_s{seed}"
    values = dict(method=label.split()[0], dataset=study.dataset, partition=study.partition, workers=workers,
                  backend=study.backend, steps=study.steps, batch_size=study.batch_size, seed=seed,
                  out=str(Path(study.out) / name), eval_every=study.eval_every or max(1, study.steps // EVALS_PER_RUN),
                  progress=study.progress, threads=study.threads)
    values.update(extra)
    try:
        return config_from_mapping(values, f"cell {name}").validate()
    except DistganError as e:
        raise DistganError(f"cell {name}: {e}") from None


def slug(label: str) -> str:
    """A folder-safe form of a label: "md-gan k=log" -> "md-gan-klog"."""
    return re.sub(r"[^A-Za-z0-9-]+", "", re.sub(r"\s+", "-", label.strip()))


def _check_study(study: Study) -> None:
    if not study.methods:
        raise DistganError("--methods is empty; give a comma list such as standalone,md-gan")
    for label in study.methods:
        if not label.strip() or label.split()[0] not in REGISTRY:
            raise DistganError(f"unknown method {label!r} in --methods; choose from: {', '.join(REGISTRY)}")
    slugs = [slug(label) for label in study.methods]
    if len(set(slugs)) != len(slugs):
        raise DistganError(f"--methods lists a method twice ({', '.join(study.methods)}); give each once")
    if not study.workers or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in study.workers):
        raise DistganError(f"--workers must be positive integers such as 4 or 1,2,4,8, got {study.workers}")
    if study.reference is not None and study.reference not in study.methods:
        raise DistganError(f"--reference {study.reference!r} is not among --methods ({', '.join(study.methods)}); "
                           "add it, or name one of them")
    if study.margin is not None:
        study.margin = stats.parse_margin(study.margin)
    if isinstance(study.jobs, bool) or not isinstance(study.jobs, int) or study.jobs < 0:
        raise DistganError(f"--jobs must be a positive integer (cells side by side), got {study.jobs}")
    from distgan.report.recommend import parse_profiles, parse_requirements

    parse_profiles(study.network)
    parse_requirements(study.require)
    if not isinstance(study.seeds, int) or study.seeds < 1:
        raise DistganError(f"--seeds must be a positive integer, got {study.seeds}")
    for label, extra in study.overrides.items():
        if label not in study.methods:
            raise DistganError(f"overrides name {label!r}, which is not in --methods; add it or drop the override")
        unknown = [k for k in extra if k not in FIELDS and k not in option_owners()]
        if unknown:
            raise DistganError(f"overrides for {label!r} set unknown settings {unknown}; see `distgan train --help`")


def compare(study: Study) -> Path:
    """Run every unfinished cell (a failed cell is recorded and the study goes on), then build the report."""
    cells = plan(study)
    chosen = select(cells, study.cells)
    _check_datasets(chosen)
    out = Path(study.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "study.json", _study_record(study, cells))
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
    from distgan.report import build_report

    return build_report(out, margin=study.margin, network=study.network, require=study.require)


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
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
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
        before = json.loads((out / "failures.json").read_text())
    except (OSError, json.JSONDecodeError):
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
        done = json.loads((folder / run_folder.CONFIG).read_text())
    except (OSError, json.JSONDecodeError):
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
        done = json.loads((folder / run_folder.CONFIG).read_text())
        step = int(load_checkpoint(checkpoint)["step"])
    except (OSError, json.JSONDecodeError, DistganError, KeyError, TypeError, ValueError):
        return False
    # a restart after a crash rewrites workers and fail in config.json: such a cell starts afresh, as does one
    # stopped while it wrote its summary (its checkpoint is at the last step, with nothing left to resume)
    return step < cell.config.steps and not _settings_differ(cell, done, after_crash=False)


def _settings_differ(cell: Cell, done: dict[str, Any], after_crash: bool) -> list[str]:
    """The settings in which the run folder's config.json differs from what the study wants of the cell."""
    wanted = cell.config.to_dict()
    ignored = {"out", "progress", "resume", "is_resolved"}
    if after_crash:  # a restart after a crash rewrites workers and fail in config.json
        ignored |= {"workers", "fail"}
    # a setting left to the data (None: batch size, learning rates) matches whatever the run resolved it to
    differ = [k for k in wanted if k not in ignored and k in done and wanted[k] is not None and done[k] != wanted[k]
              and k != "options"]
    from distgan.methods.registry import saved_meaning

    saved = saved_meaning(REGISTRY[cell.config.method], done.get("options") or {})
    differ += [k for k, v in wanted["options"].items() if saved.get(k, v) != v]
    return differ


def _read_summary_failures(folder: Path) -> list:
    try:
        return json.loads((folder / run_folder.SUMMARY).read_text()).get("failures") or []
    except (OSError, json.JSONDecodeError, AttributeError):
        return []


def _clear(folder: Path) -> None:
    """Remove an unfinished cell's folder so it reruns from scratch; refuse to touch anything else."""
    if not folder.exists():
        return
    if not (folder / run_folder.CONFIG).is_file() and any(folder.iterdir()):
        raise DistganError(f"{folder} exists and is not a distgan run folder; move it or pick another --out")
    shutil.rmtree(folder)


def _study_record(study: Study, cells: list[Cell]) -> dict[str, Any]:
    """`study.json`: the study and its cells, so the report knows labels and order."""
    record = asdict(study)
    record.pop("progress")
    if record["reference"] is None:
        record["reference"] = "standalone" if "standalone" in study.methods else study.methods[0]
    record["cells"] = [{"folder": c.name, "label": c.label, "method": c.config.method, "workers": c.workers,
                        "seed": c.seed} for c in cells]
    return record
