"""What the report says, independent of how it is written out (HTML or Markdown)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distgan.report import fmt
from distgan.report.aggregate import Group
from distgan.report.load import Run


@dataclass
class Figure:
    title: str
    path: Path
    caption: str


@dataclass
class Report:
    title: str
    facts: list[tuple[str, str]]
    header: list[str]
    rows: list[list[str]]
    figures: list[Figure] = field(default_factory=list)
    samples: list[tuple[str, Path]] = field(default_factory=list)  # (cell name, last sample picture)
    step_definitions: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    verdicts_note: str = ""  # the family, its correction and its test
    equal_cost: list[str] = field(default_factory=list)  # quality at equal real images and at equal compute
    equal_cost_notes: list[str] = field(default_factory=list)
    target: str = ""  # what "reaching the target" means here
    time_header: list[str] = field(default_factory=list)
    time_rows: list[list[str]] = field(default_factory=list)
    time_verdicts: list[str] = field(default_factory=list)
    time_note: str = ""
    claims: list[str] = field(default_factory=list)  # the MD-GAN paper's claims, answered (report/claims.py)
    claims_note: str = ""
    pick_rule: str = ""  # `## Which method to pick` (report/recommend.py)
    pick_requirements: list[str] = field(default_factory=list)
    pick_header: list[str] = field(default_factory=list)
    pick_rows: list[list[str]] = field(default_factory=list)
    pick_sections: list[Any] = field(default_factory=list)
    network: str = ""  # `--network`: the profile wall time is projected on, and its crossover lines
    crossovers: list[str] = field(default_factory=list)


def _values(runs: list[Run], key: str) -> str:
    seen = list(dict.fromkeys(str(r.config.get(key, "?")) for r in runs))
    return ", ".join(seen) if seen else fmt.NA


def _seeds(runs: list[Run]) -> str:
    seeds = sorted({r.seed for r in runs})
    return f"{len(seeds)} ({'seed' if len(seeds) == 1 else 'seeds'} {', '.join(map(str, seeds))})"


def cost_facts(cost: Any) -> list[tuple[str, str]]:
    """The study's estimated wall time beside what it took (study.json's cost, distgan/estimate.py)."""
    if not isinstance(cost, dict) or not isinstance(cost.get("total_s"), (int, float)):
        return []
    text = (f"estimated {cost['total_s'] / 60:.1f} min before its cells ran ({cost.get('cells', '?')} cells, "
            f"{cost.get('jobs', '?')} side by side, from a pilot of each method)")
    measured = cost.get("measured_s")
    if isinstance(measured, (int, float)) and measured > 0:
        text += f"; took {measured / 60:.1f} min ({(cost['total_s'] - measured) / measured:+.0%} off)"
    else:
        text += "; not measured (the study stopped, or ran in parts)"
    if cost.get("sized"):
        text += f". {cost['sized']}"
    return [("wall time of the study", text)]


def facts(runs: list[Run], points: bool, floor: float | None) -> list[tuple[str, str]]:
    """The settings every cell shares (or the list of values where they differ) and the FID floor."""
    devices = list(dict.fromkeys(str(r.summary.get("device", "?")) for r in runs if r.summary))
    rows = [("dataset", _values(runs, "dataset")), ("partition", _values(runs, "partition")),
            ("budget (generator updates)", _values(runs, "steps")), ("batch size b", _values(runs, "batch_size")),
            ("backend", _values(runs, "backend")), ("device", ", ".join(devices) or fmt.NA),
            ("seeds", _seeds(runs)), ("runs", f"{sum(r.summary is not None for r in runs)} finished "
                                                        f"of {len(runs)}")]
    machines = _machines(runs)
    if machines:
        rows.append(("machine (rank 0)", machines))
    if not points:
        rows.append(("real-vs-real FID floor", fmt.NA if floor is None else fmt.number(floor)))
    if any((r.summary or {}).get("privacy") for r in runs):
        rows.append(("differential privacy (per worker)", _privacy(runs)))
    return rows


def _machines(runs: list[Run]) -> str:
    """The CPUs (and GPUs) the runs ran on, with how many runs each, where summaries record it. Float kernels
    differ by machine, so a study run on several kinds does not repeat bit for bit on one."""
    counts: dict[str, int] = {}
    for run in runs:
        machine = (run.summary or {}).get("machine")
        if machine:
            name = machine.get("cpu", "?") + (f" + {machine['gpu']}" if machine.get("gpu") else "")
            counts[name] = counts.get(name, 0) + 1
    if len(counts) <= 1:
        return next(iter(counts), "")
    kinds = "; ".join(f"{name} ({n} run{'' if n == 1 else 's'})" for name, n in counts.items())
    return f"{kinds}: several kinds of machine"


def _privacy(runs: list[Run]) -> str:
    """Each distinct guarantee among the runs: target epsilon, delta, clip, and the most any worker spent."""
    seen = []
    for run in runs:
        p = (run.summary or {}).get("privacy")
        text = "off" if not p else (f"ε ≤ {fmt.number(p['epsilon_target'])} at δ = {fmt.number(p['delta'])}, "
                                    f"clip C = {fmt.number(p['clip'])}, noise σ ≤ "
                                    f"{fmt.number(p['noise_multiplier'])}; spent ≤ {fmt.number(p['epsilon_spent'])}")
        if run.summary and text not in seen:
            seen.append(text)
    return "; ".join(seen)


def step_definitions(runs: list[Run]) -> dict[str, str]:
    """Each method's definition of one step of the budget, as its summary states it."""
    found: dict[str, str] = {}
    for run in runs:
        if run.summary and run.summary.get("step_definition"):
            found.setdefault(run.method, run.summary["step_definition"])
    return found


def failures(groups: list[Group], failed_cells: list[dict[str, Any]], root: Path) -> list[str]:
    """One line per cell that did not finish and per rank that failed inside a finished run."""
    lines = []
    recorded = {f.get("cell") for f in failed_cells}
    for f in failed_cells:
        lines.append(f"{f.get('label', '?')} N={f.get('workers', '?')} seed {f.get('seed', '?')} "
                     f"({f.get('cell', '?')}) failed: {f.get('error', 'no reason recorded')}")
    for g in groups:
        for run in g.runs:
            if run.summary is None and run.path.name not in recorded:
                lines.append(f"{g.name} seed {run.seed} ({run.path.relative_to(root) if run.path != root else '.'})"
                             " is unfinished (no summary.json); run the study again to finish it")
            for f in (run.summary or {}).get("failures", []):
                lines.append(f"{g.name} seed {run.seed}: rank {f.get('rank', '?')} failed at step "
                             f"{f.get('step', '?')} ({f.get('what', 'no reason recorded')}); the run went on "
                             f"without it{_detected(f)}")
            lines += late_updates(f"{g.name} seed {run.seed}", (run.summary or {}).get("late", []))
    return lines


def late_updates(label: str, late: list[dict[str, Any]]) -> list[str]:
    """One line per run that had updates in past its round deadline (`--round-deadline`)."""
    if not late:
        return []
    worst = max(late, key=lambda e: e.get("late_s", 0))
    ranks = sorted({e.get("rank") for e in late})
    return [f"{label}: {len(late)} update(s) missed the round deadline and were discarded (ranks "
            f"{', '.join(map(str, ranks))}; the latest, rank {worst.get('rank')} at step {worst.get('step')}, "
            f"{worst.get('late_s', 0):.1f} s late)"]


def _detected(failure: dict[str, Any]) -> str:
    at = failure.get("detected_at_s")
    return f", detected at {at:.1f} s" if isinstance(at, (int, float)) else ""


def notes(runs: list[Run], points: bool) -> list[str]:
    """How to read the numbers."""
    lines = [
        "Values are means over the finished seeds ± the half-width of a 95% Student t interval over seeds "
        "(scipy.stats); a value from one seed says so. Seed s gives every method the same partition, initial G "
        "and D, and evaluation noise, so verdicts pair the methods seed by seed. Each section of verdicts is one "
        "family, corrected for its number of comparisons with Holm's method; its first line names the test and the "
        "intervals. \"No detectable difference\" is not \"equal\": only \"equivalent within ±M\" says that, "
        "and an undecided line says how many paired seeds would decide it.",
        "server = rank 0 of a server method (async-ps, fl-gan, md-gan); sync-dp and standalone have none (n/a). "
        "worker = one worker, the mean over the workers of a run. Bytes count tensors moved, per message kind.",
        "Peak MB is the peak resident memory of a process."
        + (" With --backend sim all ranks share one process, so server and workers show that process's peak."
           if any(r.config.get("backend") == "sim" for r in runs) else ""),
    ]
    if points:
        lines.append("2-D mixtures (VEEGAN/PacGAN rule): a sample is high quality within 3 standard deviations of its "
                     "nearest mode; a mode is captured when at least one high-quality sample is nearest to it.")
    else:
        lines.append("FID, KID and score use a small classifier trained on the dataset itself, not Inception; "
                     "compare them across methods here, not with published numbers.")
        classifiers = {r.summary["metrics_classifier"] for r in runs if (r.summary or {}).get("metrics_classifier")}
        if len(classifiers) > 1:
            lines.append(f"**These cells were scored by {len(classifiers)} different metrics classifiers** (a "
                         "classifier is retrained wherever its cache is empty; `metrics_classifier` in "
                         "summary.json): their FIDs do not compare, and verdicts pair only runs scored by the "
                         "same one. Rerun the cells on one machine, or share its cache (DISTGAN_CACHE).")
    return lines
