"""The Gossiping GANs position paper's three claims, answered from the gossip study's two partitions.

    .venv/bin/distgan compare --preset gossip --out runs/gossip-iid
    .venv/bin/distgan compare --preset gossip --partition dirichlet:0.1 --out runs/gossip-dir01
    .venv/bin/python benchmarks/gossip_claims.py --iid runs/gossip-iid --non-iid runs/gossip-dir01

Hardy, Le Merrer and Sericola (DIDL 2018) claim that (1) gossip reaches quality close to federated learning,
(2) the non-IID split is critical, and (3) gossiping G and D independently is only marginally better than
together. Each claim becomes paired comparisons of final FID over the seeds both studies ran (seed s gives
every cell the same initial models and noise; the partition differs only between the two studies):

1. gossip-gan (each variant) against fl-gan, per partition and N; "close" is equivalence within 10% of fl-gan's
   mean final FID, the report's default margin.
2. each method's FID on dirichlet:0.1 against its FID on iid, per N; and whether gossip loses more than fl-gan
   does: (gossip non-iid - gossip iid) - (fl-gan non-iid - fl-gan iid), seed by seed.
3. independent against joint, per partition and N, within 10% of joint's mean.

All of them form one family, corrected with Holm's method; the lines are the report's (distgan/report). Writes
benchmarks/results/gossip_claims.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import common

from distgan import stats
from distgan.report import fmt
from distgan.report.aggregate import Group, group_runs
from distgan.report.comparison import Comparison, correct, family_note
from distgan.report.costs import costs_sentence
from distgan.report.load import load_runs
from distgan.report.verdicts import final_value, paired_differences, resolve_margin

JOINT, INDEPENDENT, FL, MD = "gossip-gan joint", "gossip-gan independent", "fl-gan", "md-gan"
LOWER, HIGHER = "reaches lower FID than", "reaches higher FID than"


def fid(run) -> float | None:
    return final_value(run, "fid")


def by_seed(group: Group) -> dict[int, float]:
    return {r.seed: fid(r) for r in group.finished if fid(r) is not None}


def mean_ci_text(values: list[float]) -> str:
    mean, low, high = stats.mean_ci(values)
    seeds = f"{len(values)} seeds" if len(values) > 1 else "one seed"
    return f"{fmt.number(mean)} ± {fmt.number(high - mean)} ({seeds})"


def against(a: tuple[str, Group], b: tuple[str, Group], what: str, margin_of: Group | None = None,
            costs: bool = True) -> Comparison:
    (split_a, a), (split_b, b) = a, b
    return Comparison(f"{a.name} ({split_a})", f"{b.name} ({split_b})", what, True, LOWER, HIGHER,
                      diffs=paired_differences(a, b, fid),
                      margin=resolve_margin(None, margin_of, "fid") if margin_of else None,
                      costs=costs_sentence(a, b) if costs else "")


def interaction(gossip: tuple[Group, Group], fl: tuple[Group, Group], n: int) -> Comparison:
    """Seed by seed: how much more FID gossip loses than fl-gan when the split turns non-IID."""
    (g_iid, g_non), (f_iid, f_non) = (by_seed(g) for g in gossip), (by_seed(g) for g in fl)
    seeds = sorted(set(g_iid) & set(g_non) & set(f_iid) & set(f_non))
    diffs = [(g_non[s] - g_iid[s]) - (f_non[s] - f_iid[s]) for s in seeds]
    return Comparison(f"{gossip[0].label} N={n}'s loss from the non-IID split", f"fl-gan N={n}'s",
                      "FID lost to the non-IID split", True, "loses less FID than", "loses more FID than",
                      diffs=diffs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iid", default="runs/gossip-iid")
    parser.add_argument("--non-iid", default="runs/gossip-dir01")
    parser.add_argument("--out", default=str(common.RESULTS / "gossip_claims.md"))
    args = parser.parse_args()
    cells: dict[tuple[str, str, int], Group] = {}
    splits = {}
    for split, root in (("iid", args.iid), ("non-iid", args.non_iid)):
        for g in group_runs(load_runs(Path(root))):
            cells[(split, g.label, g.workers)] = g
            splits.setdefault(split, g.runs[0].config["partition"])
    counts = sorted(n for n in {n for _, _, n in cells}  # the N where every cell of both studies has run
                    if all((s, m, n) in cells and cells[(s, m, n)].finished
                           for s in ("iid", "non-iid") for m in (JOINT, INDEPENDENT, FL, MD)))

    def cell(split: str, label: str, n: int) -> tuple[str, Group]:
        return splits[split], cells[(split, label, n)]

    claim1 = [against(cell(s, v, n), cell(s, FL, n), "final FID", cells[(s, FL, n)])
              for s in ("iid", "non-iid") for n in counts for v in (JOINT, INDEPENDENT)]
    claim2 = [against(cell("non-iid", m, n), cell("iid", m, n), "final FID", costs=False)
              for n in counts for m in (JOINT, INDEPENDENT, FL, MD)]
    claim2 += [interaction((cells[("iid", v, n)], cells[("non-iid", v, n)]),
                           (cells[("iid", FL, n)], cells[("non-iid", FL, n)]), n)
               for n in counts for v in (JOINT, INDEPENDENT)]
    claim3 = [against(cell(s, INDEPENDENT, n), cell(s, JOINT, n), "final FID", cells[(s, JOINT, n)])
              for s in ("iid", "non-iid") for n in counts]
    family = correct(claim1 + claim2 + claim3)
    means = ["| method | partition | " + " | ".join(f"N = {n}" for n in counts) + " |",
             "|---|---|" + "---|" * len(counts)]
    for m in (JOINT, INDEPENDENT, FL, MD):
        for s in ("iid", "non-iid"):
            row = []
            for n in counts:
                values = list(by_seed(cells[(s, m, n)]).values())
                row.append(mean_ci_text(values) if values else "not run")
            means.append(f"| {m} | {splits[s]} | " + " | ".join(row) + " |")
    lines = ["# The Gossiping GANs position paper's claims", "",
             f"From `{args.iid}` and `{args.non_iid}` (`benchmarks/gossip_claims.py`). Final FID, mean ± 95% "
             "t interval over seeds:", "", *means, "",
             family_note("The claims", family, "paired Student t tests over seeds"), "",
             "## Claim 1: gossip is close to federated learning in quality", "",
             *[f"- {c.line()}" for c in claim1], "",
             "## Claim 2: the non-IID split is critical", "",
             *[f"- {c.line()}" for c in claim2], "",
             "## Claim 3: gossiping G and D independently is only marginally better", "",
             *[f"- {c.line()}" for c in claim3], ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
