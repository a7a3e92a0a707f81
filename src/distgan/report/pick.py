"""`## Which method to pick` as the report prints it: the summary line per profile, each profile's ranking, and
recommendation.json (the decisions themselves are report/recommend.py's)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from distgan.methods import REGISTRY
from distgan.report import fmt
from distgan.report.aggregate import final
from distgan.report.recommend import Decision, factor, reached_text, rule
from distgan.report.verdicts import Target, measure


@dataclass
class PickSection:
    """One profile and N as the report prints it."""

    title: str
    verdict: str
    header: list[str]
    rows: list[list[str]]
    lines: list[str]


def summary_rows(decisions: list[Decision]) -> tuple[list[str], list[list[str]]]:
    header = ["network", "N", "pick", "regret bound", "also within the margin", "decided"]
    rows = [[d.profile.describe(), str(d.workers), d.pick if d.decided else "undecided",
             factor(d.regret_bound) + ("" if d.decided else " (leader)") if d.leader else "-",
             ", ".join(n for n in d.within_margin if n != d.pick) or "-",
             f"yes, margin {1 + d.margin:.2f}x" if d.decided else "no: " + d.what_would_decide] for d in decisions]
    return header, rows


def section(decision: Decision, points: bool) -> PickSection:
    key, name, _ = measure(points)
    header = ["method", "what leaves a worker", "a worker's death", "reached", "projected s to target",
              "bytes to target", f"final {name}", "standing"]
    private = any(_epsilon(r.group) is not None for r in decision.rows)
    if private:
        header.insert(3, "ε per worker")
    rows = []
    for r in decision.rows:
        spec = REGISTRY[r.group.method]
        row = [r.name, spec.exposes, "dropped" if spec.on_worker_death == "drop" else "group restarts",
               f"{reached_text(r)} seeds", fmt.censored(list(r.times.values()), beyond="> budget")
               + (f" ±{r.error:.0%}" if r.error else ""),
               fmt.size(statistics.median(r.bytes_to)) if r.bytes_to else "never reached",
               fmt.stat(final(r.group, key)), r.status]
        if private:
            epsilon = _epsilon(r.group)
            row.insert(3, "not private" if epsilon is None else f"≤ {fmt.number(epsilon)}")
        rows.append(row)
    verdict = decision.verdict()
    verdict = verdict[0].upper() + verdict[1:] + ("" if verdict.endswith(".") else ".")
    lines = [*decision.lines, *(f"Not a candidate: {e}" for e in decision.excluded)]
    return PickSection(f"{decision.profile.describe()}, N = {decision.workers}", verdict, header, rows, lines)


def _epsilon(group) -> float | None:
    """The most any worker of the group's runs spent, or None if a run trained without privacy."""
    spent = [((r.summary or {}).get("privacy") or {}).get("epsilon_spent") for r in group.finished]
    return None if not spent or any(e is None for e in spent) else max(spent)


def keep_earlier_decisions(decisions: list[Decision], rows: list[list[str]], sections: list[PickSection],
                           recommendation: dict[str, Any], decided_at: dict[str, dict[str, Any]]) -> list[list[str]]:
    """A sequential study (distgan/sequential.py): each profile a look decided keeps that look's pick, in the
    summary rows (returned), its section's verdict and `recommendation` (both changed in place); what every seed
    now says stays beside it."""
    rows = [list(r) for r in rows]
    for i, d in enumerate(decisions):
        kept = decided_at.get(d.profile.name)
        if not isinstance(kept, dict) or kept.get("workers") != d.workers or not kept.get("pick"):
            continue
        if i < len(sections):
            sections[i].verdict = (f"Decided at look {kept.get('look')}: pick {kept['pick']}, regret bound "
                                   f"{factor(kept.get('regret_bound'))}. With every seed of the later looks: "
                                   f"{sections[i].verdict}")
        now = f"{d.pick}, regret bound {factor(d.regret_bound)}" if d.decided else "undecided"
        rows[i][2:6] = [kept["pick"], factor(kept.get("regret_bound")),
                        ", ".join(n for n in kept.get("within_margin") or [] if n != kept["pick"]) or "-",
                        f"yes, at look {kept.get('look')}, margin {1 + float(kept.get('margin') or d.margin):.2f}x "
                        f"(on every seed of the later looks: {now})"]
        entry = recommendation["profiles"].get(d.profile.name)
        if entry is not None and entry.get("workers") == d.workers:
            entry["last_look"] = {k: entry.get(k) for k in ("decided", "pick", "regret_bound", "within_margin")}
            entry.update({"decided": True, "pick": kept["pick"], "regret_bound": kept.get("regret_bound"),
                          "within_margin": kept.get("within_margin") or [], "decided_at_look": kept.get("look")})
    return rows


def recommendation_json(decisions: list[Decision], points: bool, requirements: list[str], target: Target | None,
                        margin: float, quality_margin: float) -> dict[str, Any]:
    """recommendation.json: per profile the decision at the largest N, and every N under by_workers."""
    profiles: dict[str, Any] = {}
    for d in decisions:
        entry = profiles.setdefault(d.profile.name, {**d.to_json(), "by_workers": {}})
        entry["by_workers"][str(d.workers)] = d.to_json()
    return {"rule": rule(points, margin, quality_margin), "margin": margin, "quality_margin": quality_margin,
            "requirements": requirements,
            "target": target.describe() if target else None, "profiles": profiles}
