"""What a study is: the methods, worker counts, seeds and settings to compare, and its plan of cells.

A method entry is a label whose first word is the method ("md-gan k=log"); `overrides[label]` holds RunConfig
fields for that label's cells, and may hold `workers` as a list of the worker counts that label runs at. The
plan validates everything before any cell runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distgan import stats
from distgan.config import FIELDS, RunConfig, config_from_mapping
from distgan.errors import DistganError
from distgan.methods import REGISTRY, option_owners

# The default study, chosen by measurement to decide within 15 minutes on 2 cores (docs/compare.md). fe-gan is
# left out: with iid shards and every worker selected each round, FeGAN's balanced sampling selects every device
# and its KL weights are near uniform, so it trains as fl-gan does and no number of seeds here tells them apart.
DEFAULT_METHODS = ("standalone", "sync-dp", "async-ps", "fl-gan", "md-gan", "gossip-gan")
DEFAULT_WORKERS = 2
DEFAULT_DATASET = "digits"
DEFAULT_PARTITION = "iid"
DEFAULT_STEPS = 800
DEFAULT_SEEDS = 5  # paired seeds are cheap when cells run side by side; 3 is the fewest for an interval
DEFAULT_FIRST_SEED = 5  # the default study: seeds 0-4 chose the pick rule's endpoint and margins
DEFAULT_BACKEND = "sim"  # the same numbers as processes for fl-gan and md-gan; wall time comes from the projection
DEFAULT_TARGET = 20.0  # FID on digits, about 10x its floor: every seed of every default method reaches it
DEFAULT_EVAL_EVERY = 20  # fl-gan's round: a time to target is known to one evaluation interval
DEFAULT_BATCH_SIZE = None  # by data: 256 for 2-D points, 64 for images
DEFAULT_OUT = "runs/compare"
EVALS_PER_RUN = 5  # eval_every = steps // EVALS_PER_RUN unless the study sets it

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
    first_seed: int = 0  # seeds first_seed .. first_seed + seeds - 1
    backend: str = DEFAULT_BACKEND
    out: str = DEFAULT_OUT
    batch_size: int | None = DEFAULT_BATCH_SIZE
    eval_every: int = 0  # 0: steps // EVALS_PER_RUN
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # shown in the report
    progress: bool = True
    reference: str | None = None  # the label every other cell is paired with; None: standalone, else the first
    target: float | None = None  # time to target: FID (images) or high-quality share (2-D points); None: default
    equivalence_margin: str | None = None  # of the quality verdicts, "5" or "10%"; None: 10% of the reference
    margin: float | None = None  # the pick's time margin, a share (0.2: 20%); None: the rule's default
    quality_margin: float | None = None  # the pick's quality margin, a share; None: the rule's default
    until_decided: bool = False  # add seeds where the pick is undecided (distgan/sequential.py)
    time_budget: float = 0.0  # seconds the study may take: sizes its seeds and updates (distgan/estimate.py), or,
    # with until_decided, what its looks may spend in all; 0: no limit
    estimate: bool = True  # time a pilot of each method and state the study's cost before its first cell
    cells: list[str] = field(default_factory=list)  # run only the cells whose folder matches one of these globs
    threads: int = 0  # torch threads per rank process (sim: per study process); 0 shares the cores
    jobs: int = 0  # cells run side by side, each with its share of the cores; 0: one per core
    network: str | None = None  # profiles `## Which method to pick` projects onto; None: datacenter,lan,wan,edge
    require: str | None = None  # what a recommended method must offer; None: data-stays-local
    dp_epsilon: float = 0.0  # every cell's differential privacy target per worker (distgan/privacy.py); 0: off
    compress: str = "none"  # every cell's codec for its counted messages (distgan/transport/codecs.py)


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
            for seed in range(study.first_seed, study.first_seed + study.seeds):
                cells.append(Cell(label, workers, seed, _cell_config(study, label, workers, seed, extra)))
    return cells


def _cell_config(study: Study, label: str, workers: int, seed: int, extra: dict[str, Any]) -> RunConfig:
    name = f"{slug(label)}_w{workers}_s{seed}"
    values = dict(method=label.split()[0], dataset=study.dataset, partition=study.partition, workers=workers,
                  backend=study.backend, steps=study.steps, batch_size=study.batch_size, seed=seed,
                  out=str(Path(study.out) / name), eval_every=study.eval_every or max(1, study.steps // EVALS_PER_RUN),
                  progress=study.progress, threads=study.threads)
    if study.dp_epsilon:
        values["dp_epsilon"] = study.dp_epsilon
    if study.compress != "none":
        values["compress"] = study.compress
    values.update(extra)
    try:
        return config_from_mapping(values, f"cell {name}").validate()
    except DistganError as e:
        raise DistganError(f"cell {name}: {e}") from None


def parse_duration(text: str) -> float:
    """Seconds in "20m", "1h30m", "900s" or "900"; bad input is a DistganError."""
    spec = str(text).strip().lower()
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", spec)
    if not spec or parts is None or not any(parts.groups()):
        raise DistganError(f"--time-budget must be a duration such as 20m, 1h or 900s, got {text!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in parts.groups())
    return 3600 * hours + 60 * minutes + seconds


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
    if study.equivalence_margin is not None:
        study.equivalence_margin = stats.parse_margin(study.equivalence_margin)
    if study.margin is not None:
        study.margin = stats.parse_share(study.margin, "--margin")
    if isinstance(study.time_budget, str):
        study.time_budget = parse_duration(study.time_budget)
    if not isinstance(study.time_budget, (int, float)) or study.time_budget < 0:
        raise DistganError(f"--time-budget must be a duration such as 20m, 1h or 900s, got {study.time_budget!r}")
    if study.time_budget and not study.estimate and not study.until_decided:
        raise DistganError("--time-budget sizes the study from its estimate; drop --no-estimate, or drop "
                           "--time-budget")
    if study.quality_margin is not None:
        study.quality_margin = stats.parse_share(study.quality_margin, "--quality-margin")
    if isinstance(study.jobs, bool) or not isinstance(study.jobs, int) or study.jobs < 0:
        raise DistganError(f"--jobs must be a positive integer (cells side by side), got {study.jobs}")
    from distgan.report.candidates import parse_profiles, parse_requirements

    parse_profiles(study.network)
    _check_private_requirement(study, parse_requirements(study.require))
    if not isinstance(study.seeds, int) or study.seeds < 1:
        raise DistganError(f"--seeds must be a positive integer, got {study.seeds}")
    if isinstance(study.first_seed, bool) or not isinstance(study.first_seed, int) or study.first_seed < 0:
        raise DistganError(f"--first-seed must be 0 or a positive integer, got {study.first_seed}")
    for label, extra in study.overrides.items():
        if label not in study.methods:
            raise DistganError(f"overrides name {label!r}, which is not in --methods; add it or drop the override")
        unknown = [k for k in extra if k not in FIELDS and k not in option_owners()]
        if unknown:
            raise DistganError(f"overrides for {label!r} set unknown settings {unknown}; see `distgan train --help`")


def _check_private_requirement(study: Study, requirements: list[str]) -> None:
    """`--require epsilon<=X` picks among private cells; a study without any would pick nothing."""
    from distgan.report.candidates import epsilon_bound

    bounds = [r for r in requirements if epsilon_bound(r) is not None]
    private = study.dp_epsilon or any(extra.get("dp_epsilon") for extra in study.overrides.values())
    if bounds and not private:
        raise DistganError(f"--require {bounds[0]} needs cells trained with differential privacy, and this study "
                           f"has none; add --dp-epsilon {epsilon_bound(bounds[0]):g} (or smaller), or drop "
                           f"{bounds[0]}")
