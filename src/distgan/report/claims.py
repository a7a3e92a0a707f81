"""The MD-GAN paper's claims, each answered from a study's runs with a paired verdict over seeds.

Hardy, Le Merrer and Sericola (IPDPS 2019) claim that MD-GAN (1) generates better samples than FL-GAN,
(2) halves the computation a worker does, and (3) moves fewer bytes than FL-GAN below a crossover batch
size. A study that holds md-gan and fl-gan cells at the same N (the mdgan-paper preset does) gets one
line per claim and N.
"""

from __future__ import annotations

import math

from distgan import run_folder
from distgan.report import fmt
from distgan.report.aggregate import Group
from distgan.report.load import Run
from distgan.report.verdicts import paired_differences, pairs_by_seed, verdict_line
from distgan.transport.trace import RECORD_PHASE, compute_seconds, read_trace

FLOAT32 = 4
STATS_PER_ROUND = 2 * FLOAT32  # an fl-gan worker sends (loss_D, loss_G) once per round
DATA_KINDS = ("md-gan/X_g", "md-gan/X_d")  # what an md-gan worker receives every iteration, b samples each


def paper_claims(groups: list[Group], points: bool) -> list[str]:
    """One line per claim of the MD-GAN paper and per (md-gan, fl-gan) pair of cells at the same N."""
    pairs = [(md, fl) for md in groups if md.method == "md-gan" and md.finished
             for fl in groups if fl.method == "fl-gan" and fl.workers == md.workers and fl.finished]
    lines = []
    for md, fl in pairs:
        lines.append("Claim: MD-GAN beats FL-GAN in quality. " + _quality(md, fl, points))
    for md, fl in pairs:
        lines.append("Claim: MD-GAN halves per-worker compute. " + _compute(md, fl))
    for md, fl in pairs:
        lines.append("Claim: MD-GAN sends fewer bytes than FL-GAN below a crossover batch size. " + _bytes(md, fl))
    return lines


def _quality(md: Group, fl: Group, points: bool) -> str:
    key = "hq_pct" if points else "fid"
    diffs = paired_differences(md, fl, lambda r: (r.summary or {}).get("final_eval", {}).get(key))
    if points:
        return verdict_line(md.name, fl.name, diffs, False, "reaches a higher high-quality share than",
                     "reaches a lower high-quality share than", "final high-quality share")
    return verdict_line(md.name, fl.name, diffs, True, "reaches lower FID than", "reaches higher FID than", "final FID")


def worker_compute_s(run: Run) -> float | None:
    """Seconds of compute per generator update on one worker (mean over workers), from the run's trace.

    Logging and evaluation (the `record` phase, rank 0's) are not compute of the method. The updates are
    those the trace covers (rank 0's records), not the run's: a run killed and resumed traced only its
    resumed part."""
    path = run.path / run_folder.TRACE
    if not path.is_file():
        return None
    per_rank: dict[int, float] = {}
    steps = 0
    for record in read_trace(path):
        if record["rank"] == 0:
            steps += record["updates"] if record["step"] >= 1 else 0
        else:
            per_rank[record["rank"]] = per_rank.get(record["rank"], 0.0) + compute_seconds(record, RECORD_PHASE)
    return sum(per_rank.values()) / len(per_rank) / steps if per_rank and steps else None


def _compute(md: Group, fl: Group) -> str:
    seconds = {r.path: worker_compute_s(r) for r in md.finished + fl.finished}  # each trace read once
    diffs = paired_differences(md, fl, lambda r: seconds[r.path])
    if not diffs:
        return (f"{md.name} against {fl.name}: not measured (the runs have no trace.jsonl: run without "
                "--no-trace, and keep the traces).")
    ratios = paired_differences(md, fl, lambda r: math.log(seconds[r.path] or math.nan))
    ratio = math.exp(sum(ratios) / len(ratios)) if ratios else math.nan
    return (verdict_line(md.name, fl.name, [d * 1000 for d in diffs], True,
                  "needs less compute per worker per generator update (ms) than",
                  "needs more compute per worker per generator update (ms) than", "worker compute per update (ms)")
            + f" md-gan / fl-gan: {fmt.number(ratio)} (the paper claims 0.5).")


def _worker_bytes(run: Run, kinds: tuple[str, ...] | None, direction: str = "recv") -> list[float]:
    """Bytes each worker rank moved in `direction`, of `kinds` (None: every kind)."""
    per_rank = (run.summary or {}).get("bytes", {}).get("per_rank", {})
    return [sum(v for k, v in counts.get(direction, {}).items() if kinds is None or k in kinds)
            for rank, counts in per_rank.items() if rank != "0"]


def _per_update(run: Run) -> float | None:
    """Bytes a worker sends and receives per generator update, mean over workers."""
    both = [s + r for s, r in zip(_worker_bytes(run, None, "sent"), _worker_bytes(run, None, "recv"))]
    steps = (run.summary or {}).get("g_updates")
    return sum(both) / len(both) / steps if both and steps else None


def crossover_batch_size(md: Run, fl: Run) -> float | None:
    """The paper's crossover, from measured bytes: the b at which what an md-gan worker receives in one
    iteration (X_g and X_d, linear in b) equals what an fl-gan worker receives in one round (w and theta)."""
    data = _worker_bytes(md, DATA_KINDS)
    b, steps = md.config.get("batch_size"), (md.summary or {}).get("g_updates")
    params = _worker_bytes(fl, ("fl-gan/params",))
    rounds = [v / STATS_PER_ROUND for v in _worker_bytes(fl, ("fl-gan/stats",), "sent")]
    per_round = [p / n for p, n in zip(params, rounds) if n]
    if not (data and b and steps and per_round):
        return None
    per_sample_per_iteration = sum(data) / len(data) / steps / b
    return (sum(per_round) / len(per_round)) / per_sample_per_iteration if per_sample_per_iteration else None


def _bytes(md: Group, fl: Group) -> str:
    diffs = paired_differences(md, fl, _per_update)
    line = verdict_line(md.name, fl.name, [d / 1e6 for d in diffs], True,
                 "moves fewer MB per worker per generator update than",
                 "moves more MB per worker per generator update than", "MB per worker per update")
    crossings = [c for c in (crossover_batch_size(m, f) for m, f in pairs_by_seed(md, fl)) if c]
    if not crossings:
        return line
    b = md.finished[0].config.get("batch_size")
    crossover = sum(crossings) / len(crossings)
    side = "below" if b < crossover else "above"
    return (line + f" Per message, an md-gan worker receives less in an iteration than an fl-gan worker in a round "
            f"for b below {fmt.number(crossover)} (paper, MNIST: 550); this study's b = {b} is {side} it.")
