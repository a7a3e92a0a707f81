"""The MD-GAN paper's claims, each answered from a study's runs with a paired verdict over seeds.

Hardy, Le Merrer and Sericola (IPDPS 2019) claim that MD-GAN (1) generates better samples than FL-GAN,
(2) halves the computation a worker does, and (3) moves fewer bytes than FL-GAN below a crossover batch
size. A study that holds md-gan and fl-gan cells at the same N (the mdgan-paper preset does) gets one
line per claim and N.
"""

from __future__ import annotations

import math
import statistics

from distgan.report import fmt
from distgan.report.aggregate import Group
from distgan.report.comparison import Comparison, correct, family_note
from distgan.report.costs import costs_sentence, worker_compute_s
from distgan.report.load import Run
from distgan.report.verdicts import paired_differences, pairs_by_seed

FLOAT32 = 4
STATS_PER_ROUND = 2 * FLOAT32  # an fl-gan worker sends (loss_D, loss_G) once per round
DATA_KINDS = ("md-gan/X_g", "md-gan/X_d")  # what an md-gan worker receives every iteration, b samples each


def paper_claims(groups: list[Group], points: bool) -> tuple[list[str], str]:
    """One line per claim of the MD-GAN paper and per (md-gan, fl-gan) pair of cells at the same N, and the
    note that heads the family: the quality and compute lines are tested together and corrected with Holm's
    method; the bytes lines are counts, identical on every seed, so they are stated, not tested."""
    pairs = [(md, fl) for md in groups if md.method == "md-gan" and md.finished
             for fl in groups if fl.method == "fl-gan" and fl.workers == md.workers and fl.finished]
    quality = [_quality(md, fl, points) for md, fl in pairs]
    compute = [_compute(md, fl) for md, fl in pairs]
    family = correct([c for c in quality + compute if isinstance(c, Comparison)])
    lines = ["Claim: MD-GAN beats FL-GAN in quality. " + c.line() for c in quality]
    lines += ["Claim: MD-GAN halves per-worker compute. " + (c.line() if isinstance(c, Comparison) else c)
              for c in compute]
    lines += ["Claim: MD-GAN sends fewer bytes than FL-GAN below a crossover batch size. " + _bytes(md, fl)
              for md, fl in pairs]
    note = family_note("The paper's claims (quality and compute)", family, "paired Student t tests over seeds")
    return lines, note if pairs else ""


def _quality(md: Group, fl: Group, points: bool) -> Comparison:
    key = "hq_pct" if points else "fid"
    diffs = paired_differences(md, fl, lambda r: (r.summary or {}).get("final_eval", {}).get(key))
    if points:
        return Comparison(md.name, fl.name, "final high-quality share", False,
                          "reaches a higher high-quality share than", "reaches a lower high-quality share than",
                          diffs=diffs, costs=costs_sentence(md, fl))
    return Comparison(md.name, fl.name, "final FID", True, "reaches lower FID than", "reaches higher FID than",
                      diffs=diffs, costs=costs_sentence(md, fl))


def _compute(md: Group, fl: Group) -> Comparison | str:
    seconds = {r.path: worker_compute_s(r) for r in md.finished + fl.finished}
    diffs = paired_differences(md, fl, lambda r: seconds[r.path])
    if not diffs:
        return (f"{md.name} against {fl.name}: not measured (the runs have no trace.jsonl: run without "
                "--no-trace, and keep the traces).")
    ratios = paired_differences(md, fl, lambda r: math.log(seconds[r.path] or math.nan))
    ratio = math.exp(sum(ratios) / len(ratios)) if ratios else math.nan
    return Comparison(md.name, fl.name, "worker compute per update (ms)", True,
                      "needs less compute per worker per generator update (ms) than",
                      "needs more compute per worker per generator update (ms) than",
                      diffs=[d * 1000 for d in diffs],
                      extra=f"md-gan / fl-gan: {fmt.number(ratio)} (the paper claims 0.5).")


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


def _per_group(group: Group) -> list[float]:
    return [v for v in (_per_update(r) for r in group.finished) if v is not None]


def _bytes(md: Group, fl: Group) -> str:
    diffs = paired_differences(md, fl, _per_update)
    if diffs and len(set(diffs)) == 1:  # bytes are counts: the same on every seed, so exact, not estimated
        mb = [v / 1e6 for v in (statistics.fmean(x) for x in (_per_group(md), _per_group(fl)))]
        fewer = "fewer" if diffs[0] < 0 else "more"
        line = (f"{md.name} moves {fewer} MB per worker per generator update than {fl.name}: {fmt.number(mb[0])} "
                f"against {fmt.number(mb[1])}, the same count on every one of {len(diffs)} seeds (a count, not an "
                "estimate, so no interval).")
    else:
        line = Comparison(md.name, fl.name, "MB per worker per update", True,
                          "moves fewer MB per worker per generator update than",
                          "moves more MB per worker per generator update than", diffs=diffs, units=1e6).line()
    crossings = [c for c in (crossover_batch_size(m, f) for m, f in pairs_by_seed(md, fl)) if c]
    if not crossings:
        return line
    b = md.finished[0].config.get("batch_size")
    crossover = sum(crossings) / len(crossings)
    side = "below" if b < crossover else "above"
    return (line + f" Per message, an md-gan worker receives less in an iteration than an fl-gan worker in a round "
            f"for b below {fmt.number(crossover)} (paper, MNIST: 550); this study's b = {b} is {side} it.")
