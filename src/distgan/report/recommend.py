"""Which method to pick, per network profile: one named method, or "undecided, and here is what would decide".

The rule, per profile and worker count N (the statistics are report/noninferiority.py's):
1. Candidates are the methods that meet the user's requirements (`--require`).
2. Quality gate, as non-inferiority: a candidate is kept when its final quality is shown, one-sided and by
   multiple comparisons with the best (MCB), to be at most (1 + quality margin) times every other candidate's;
   out when shown worse than some candidate by more than that; otherwise "quality unresolved": never picked,
   left out of the time bounds, and named beside the pick when it may be faster.
3. Time, as non-inferiority against the best: each run's trace is replayed on the profile, and its time to the
   target is read at the study's endpoint (report/endpoint.py). Per candidate, the regret bound is the largest
   one-sided simultaneous upper bound of its time over another's (log ratio, paired by seed, widened by the
   projection's error): with 95% confidence, picking it costs at most that factor against the true best.
4. The leader is the kept candidate with the best estimated time. It is the pick when its regret bound is at
   most 1 + margin; else the best-estimated kept candidate whose bound is. Every kept candidate within the
   margin is listed. Otherwise the profile is undecided, and the section says how many paired seeds would decide.

report/pick.py prints the decisions; this module only makes them.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from distgan import stats
from distgan.methods import REGISTRY
from distgan.network.profiles import Profile
from distgan.report import endpoint, fmt
from distgan.report.aggregate import Group
from distgan.report.candidates import _spec, unmet
from distgan.report.noninferiority import (
    QUALITY_MARGIN,
    TIME_MARGIN,
    Arm,
    Pick,
    decide_arms,
    log_ratios,
    quality_log_ratios,
    seeds_to_decide,
)
from distgan.report.projections import Projections
from distgan.report.verdicts import Target, final_value, is_number, measure, target_reached
from distgan.stats import censored_median

RULE = ("Non-inferiority against the best, by multiple comparisons with the best (MCB, one-sided 95%, alpha / (k - 1) "
        "per comparison). Quality gate: a candidate is kept when its final {measure} is shown to be within "
        "{quality_margin:.0%} of every other candidate's, out when shown worse by more, else unresolved (never "
        "picked, and left out of the time bounds: named beside the pick when faster). Time: each kept candidate's "
        "regret bound is the largest simultaneous upper bound of "
        "its projected time to the target over another's (log ratio, paired by seed; a censored seed counts at "
        "its run's budget for the other side and leaves its own bound unbounded), widened by the projection's "
        "error; the pick is the kept leader (best estimated time) if its bound is at most {limit:.2f}x "
        "(margin {margin:.0%}), else the best-estimated kept candidate that is. Time to the target is the "
        "smoothed, sustained crossing ({endpoint}). Otherwise the profile is undecided.")


@dataclass
class Row:
    """One cell on one profile."""

    group: Group
    times: dict[int, float | None]  # seed -> projected seconds to the target (None: never reached)
    budgets: dict[int, float]  # seed -> projected seconds of the whole run (a censored time exceeds it)
    quality: dict[int, float]  # seed -> final quality on a lower-is-better scale (FID; 1 / share for mixtures)
    bytes_to: list[float]
    error: float = 0.0  # the projection's relative error for this cell
    status: str = ""
    regret: float = math.inf

    @property
    def name(self) -> str:
        return self.group.name

    def arm(self) -> Arm:
        return Arm(self.name, self.times, self.budgets, self.quality, self.error)


@dataclass
class Decision:
    profile: Profile
    workers: int
    margin: float = TIME_MARGIN
    quality_margin: float = QUALITY_MARGIN
    decided: bool = False
    pick: str | None = None
    leader: str | None = None
    regret_bound: float | None = None  # the pick's (else the leader's) regret bound, a factor
    within_margin: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # candidates whose quality is neither kept nor out
    open_contrasts: list[Row] = field(default_factory=list)  # undecided: the cells more seeds would help
    faster_unresolved: list[str] = field(default_factory=list)  # quality unresolved, faster than the pick on average
    alpha: float = stats.ALPHA
    rows: list[Row] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # cells that do not meet the requirements, and why
    lines: list[str] = field(default_factory=list)  # the comparisons behind the decision
    what_would_decide: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"decided": self.decided, "pick": self.pick if self.decided else "", "workers": self.workers,
                "network": self.profile.describe(), "margin": self.margin, "quality_margin": self.quality_margin,
                "regret_bound": _json_number(self.regret_bound), "leader": self.leader,
                "within_margin": self.within_margin, "quality_unresolved": self.unresolved, "alpha": self.alpha,
                "faster_but_quality_unresolved": self.faster_unresolved,
                "open_contrasts": [{"method": r.name, "label": r.group.label, "workers": r.group.workers}
                                   for r in self.open_contrasts],
                "verdict": self.verdict(),
                "ranking": [{"method": r.name, "status": r.status, "reached": reached_text(r),
                             "regret_bound": _json_number(r.regret), "projection_error": r.error,
                             "projected_s_to_target": censored_median(list(r.times.values())),
                             "bytes_to_target": statistics.median(r.bytes_to) if r.bytes_to else None,
                             "exposes": _spec(r.group).exposes, "worker_death": _spec(r.group).on_worker_death}
                            for r in self.rows],
                "excluded": self.excluded, "comparisons": self.lines, "what_would_decide": self.what_would_decide}

    def verdict(self) -> str:
        if not self.decided:
            return f"undecided on {self.profile.name}: {self.what_would_decide}"
        others = [n for n in self.within_margin if n != self.pick]
        text = (f"pick {self.pick}: with 95% confidence, picking it costs at most {factor(self.regret_bound)} the "
                f"time to the target of the best candidate on {self.profile.name} (margin {1 + self.margin:.2f}x)")
        if others:
            text += f"; also within the margin: {', '.join(others)}"
        if self.unresolved:
            text += f"; quality unresolved (not picked): {', '.join(self.unresolved)}"
        return text


def factor(value: float | None) -> str:
    return "unbounded" if value is None or math.isinf(value) else f"{value:.2f}x"


def _json_number(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else round(value, 4)


def reached_text(row: Row) -> str:
    return f"{sum(t is not None for t in row.times.values())} of {len(row.times)}"


def decide(groups: list[Group], profile: Profile, target: Target, points: bool, requirements: list[str],
           projections: Projections, workers: int, margin: float = TIME_MARGIN,
           quality_margin: float = QUALITY_MARGIN, errors: dict[str, float] | None = None,
           alpha: float = stats.ALPHA) -> Decision:
    """The decision for one profile among the cells at `workers` workers. `errors`: the projection's relative
    error per method label (its compute per update timed apart, distgan/compute_timing.py); absent: 0. `alpha`:
    the level of this look (a sequential study's alpha / looks)."""
    decision = Decision(profile, workers, margin, quality_margin, alpha=alpha)
    candidates = []
    for g in groups:
        if g.workers != workers and g.method != "standalone" or not g.finished or g.method not in REGISTRY:
            continue
        why = [w for w in (unmet(r, g) for r in requirements) if w]
        if why:
            decision.excluded.append(f"{g.name}: {'; '.join(why)}")
            continue
        candidates.append(g)
    rows = [_row(g, profile, target, projections, points, (errors or {}).get(g.label, 0.0)) for g in candidates]
    rows = [r for r in rows if r is not None]
    decision.rows = rows
    if not rows:
        decision.what_would_decide = "no candidate cell has a trace to project; run the study again (traces on)"
        return decision
    arms = [r.arm() for r in rows]
    chosen = decide_arms(arms, margin, quality_margin, alpha)
    by_name = {a.name: a for a in arms}
    _, name, _ = measure(points)
    for r in rows:
        a = by_name[r.name]
        r.regret = a.regret if a.status != "out" else math.inf
        r.status = _status(a, chosen, name, quality_margin, margin)
    decision.leader, decision.within_margin = chosen.leader, chosen.within_margin
    decision.unresolved = [a.name for a in arms if a.status == "unresolved"]
    decision.lines = _lines(arms, chosen, profile, name, alpha)
    decision.faster_unresolved = _faster_unresolved(arms, chosen.pick or chosen.leader)
    if chosen.decided and not decision.faster_unresolved:
        decision.decided, decision.pick = True, chosen.pick
        decision.regret_bound = by_name[chosen.pick].regret
        return decision
    if chosen.decided:  # a faster candidate whose quality may yet pass would overturn the pick: not decided
        decision.regret_bound = by_name[chosen.pick].regret
        for r in rows:
            if r.name == chosen.pick:
                r.status = (f"within the margin (regret <= {factor(r.regret)}), not picked: "
                            f"{', '.join(decision.faster_unresolved)} faster, quality unresolved")
        decision.what_would_decide = _unresolved_would_decide(arms, chosen, decision.faster_unresolved, groups,
                                                              name, alpha)
        wanted = {chosen.pick, *decision.faster_unresolved}
        decision.open_contrasts = [r for r in rows if r.name in wanted]
        return decision
    decision.regret_bound = by_name[chosen.leader].regret if chosen.leader else None
    decision.what_would_decide = _what_would_decide(arms, chosen, groups, name, alpha,
                                                    None if points else target.value)
    leader = by_name.get(chosen.leader)
    wanted = set(decision.unresolved) | ({leader.name} | {b for b, _, _ in leader.blocking} if leader else set())
    decision.open_contrasts = [r for r in rows if r.name in wanted]
    return decision


def _status(arm: Arm, chosen: Pick, measure_name: str, quality_margin: float, margin: float) -> str:
    if arm.status == "out":
        return f"out: final {measure_name} shown worse than another's by more than {quality_margin:.0%}"
    if arm.status == "unresolved":
        return f"quality unresolved (within {quality_margin:.0%} of the best not shown): not compared in time"
    if arm.name == chosen.pick:
        return f"pick: regret <= {factor(arm.regret)}" + (" (the leader)" if arm.name == chosen.leader else "")
    if arm.name in chosen.within_margin:
        return f"within the margin: regret <= {factor(arm.regret)}"
    lead = " (the leader)" if arm.name == chosen.leader else ""
    return f"regret <= {factor(arm.regret)}, over {1 + margin:.2f}x{lead}"


def _lines(arms: list[Arm], chosen: Pick, profile: Profile, measure_name: str, alpha: float) -> list[str]:
    """The comparisons behind the decision: each candidate's quality standing, and the pick's (else the leader's)
    time against every other candidate."""
    lines = []
    k = len(arms)
    for a in arms:
        if a.status in ("out", "unresolved"):
            worst = max((b for b in arms if b is not a), key=lambda b: _gmean(quality_log_ratios(a, b)))
            diffs = quality_log_ratios(a, worst)
            lines.append(f"Quality: {a.name}'s final {measure_name} is {_ratio_text(diffs)} {worst.name}'s; "
                         f"{a.status} at the MCB level (one-sided, alpha {stats.mcb_alpha(k, alpha):.3g} each)")
    focus = next((a for a in arms if a.name == (chosen.pick or chosen.leader)), None)
    if focus is None:
        return lines
    family = [b for b in arms if b is not focus and b.status == "kept"]
    level = stats.mcb_alpha(len(family) + 1, alpha)
    for b in [*family, *(b for b in arms if b.status == "unresolved")]:
        diffs = log_ratios(focus, b)
        upper = stats.one_sided_upper(diffs, level) + math.log1p(focus.error) + math.log1p(b.error)
        bound = "unbounded (a censored seed)" if any(math.isinf(d) for d in diffs) else \
            "unbounded (no spread)" if math.isinf(upper) else f"{math.exp(upper):.2f}x"
        if b.status == "unresolved":
            lines.append(f"Time on {profile.name}: {focus.name} / {b.name} = {_ratio_text(diffs)} over "
                         f"{len(diffs)} paired seeds; not in the bound, since {b.name}'s quality is unresolved")
            continue
        lines.append(f"Time on {profile.name}: {focus.name} / {b.name} = {_ratio_text(diffs)} over {len(diffs)} "
                     f"paired seeds; simultaneous one-sided 95% upper bound {bound}"
                     + (f" (widened by the projection's error, ±{focus.error:.0%} and ±{b.error:.0%})"
                        if focus.error or b.error else ""))
    return lines


def _faster_unresolved(arms: list[Arm], focus_name: str | None) -> list[str]:
    """The quality-unresolved arms whose paired geometric mean time is below the pick's (else the leader's)."""
    focus = next((a for a in arms if a.name == focus_name), None)
    if focus is None:
        return []
    return [b.name for b in arms if b.status == "unresolved" and _gmean(log_ratios(focus, b)) > 0]


def _gmean(diffs: list[float]) -> float:
    finite = [d for d in diffs if not math.isinf(d)]
    return statistics.fmean(finite) if finite else -math.inf


def _ratio_text(diffs: list[float]) -> str:
    finite = [d for d in diffs if not math.isinf(d)]
    if not finite:
        return "unknown (censored on every seed)"
    text = f"{math.exp(statistics.fmean(finite)):.2f}x (geometric mean)"
    if len(finite) < len(diffs):
        text += f", {len(diffs) - len(finite)} seed(s) censored"
    if len(diffs) == 1:
        text += ", one seed"
    return text


def _row(group: Group, profile: Profile, target: Target, projections: Projections, points: bool,
         error: float) -> Row | None:
    key, _, _ = measure(points)
    times: dict[int, float | None] = {}
    budgets: dict[int, float] = {}
    quality: dict[int, float] = {}
    bytes_to = []
    for run in group.finished:
        end = projections.seconds_at(run, profile, run.evals[-1].get("g_updates", run.evals[-1].get("step", 0))
                                     if run.evals else 0)
        if end is None:
            continue
        budgets[run.seed] = end
        reached = target_reached(run, target)
        times[run.seed] = None if reached is None else projections.seconds_at(run, profile, reached["g_updates"])
        if reached is not None and is_number(reached.get("bytes")):
            bytes_to.append(reached["bytes"])
        value = final_value(run, key)
        if is_number(value):
            quality[run.seed] = (1 / max(value, 1e-3)) if points else value
    if not times:
        return None
    return Row(group, times, budgets, quality, bytes_to, error)


def _unresolved_would_decide(arms: list[Arm], chosen: Pick, faster: list[str], groups: list[Group],
                             measure_name: str, alpha: float) -> str:
    """Why a pick within the margin is still no decision: faster candidates of unresolved quality, and the seeds
    that would resolve them."""
    level = stats.mcb_alpha(len(arms), alpha)
    needed = []
    for name in faster:
        a = next(x for x in arms if x.name == name)
        worst = max((quality_log_ratios(a, b) for b in arms if b is not a),
                    key=lambda d: statistics.fmean(d) if len(d) >= 2 else -math.inf, default=[])
        if len(worst) >= 2:  # seeds to show it within the margin, or (its mean over the margin) to show it out
            mean, sd, bound = statistics.fmean(worst), statistics.stdev(worst), math.log1p(chosen.quality_margin)
            needed.append(stats.seeds_for_noninferiority(mean, sd, bound, level) if mean < bound else
                          stats.seeds_for_noninferiority(-mean, sd, -bound, level))
    text = (f"{chosen.pick} is within the margin among the candidates of shown quality, but {', '.join(faster)} "
            f"{'is' if len(faster) == 1 else 'are'} faster on average and of unresolved final {measure_name} "
            f"(neither shown within {chosen.quality_margin:.0%} of the best nor shown worse), so the pick could "
            "change")
    if needed and all(n is not None for n in needed):
        text += f"; about {max(needed)} paired seeds would resolve the quality (80% power, at the observed spread)"
    else:
        text += "; more seeds than the power figure can bound at this spread would resolve the quality"
    return text + ", and `--until-decided` spends them only on these methods."


def _what_would_decide(arms: list[Arm], chosen: Pick, groups: list[Group], measure_name: str, alpha: float,
                       fid_target: float | None = None) -> str:
    if chosen.leader is None:
        unresolved = [a.name for a in arms if a.status == "unresolved"]
        if unresolved:
            return (f"no candidate's final {measure_name} is shown within {chosen.quality_margin:.0%} of every other's "
                    f"(unresolved: {', '.join(unresolved)}); more paired seeds, or a wider --quality-margin, would "
                    "decide")
        return "no candidate is left after the quality gate"
    leader = next(a for a in arms if a.name == chosen.leader)
    if all(t is None for t in leader.times.values()):
        return ("no kept candidate reached the target on any seed: a larger budget (--steps) or a looser --target "
                "would decide" + _budget(groups, [a for a in arms if a.status == "kept"], fid_target))
    blocking = ", ".join(name for name, _, _ in leader.blocking)
    text = (f"{leader.name} leads, but its regret bound, {factor(leader.regret)}, is over 1 + margin "
            f"({1 + chosen.margin:.2f}x) against {blocking}")
    if any(t is None for t in leader.times.values()):
        return text + (f"; {leader.name} missed the target on a seed, so its time is only known to exceed its "
                       "budget: a larger budget (--steps) would decide" + _budget(groups, [leader], fid_target) + ".")
    short = [name for name, diffs, _ in leader.blocking
             if any(a.name == name and _censored_before(leader, a) for a in arms)]
    if short:
        return text + (f"; {', '.join(short)} missed the target on a seed whose whole run took less projected time "
                       f"than {leader.name} needed, so which is faster there is unknown: a larger budget (--steps) "
                       "would decide.")
    n = seeds_to_decide(leader, chosen.margin, len([a for a in arms if a.status == "kept"]), alpha)
    if n is None:
        return text + ("; at the observed means no number of seeds would bring it within the margin (the "
                       "candidates differ by about the margin, or a censored seed): a wider --margin would "
                       "decide, or the methods are, for this purpose, equal.")
    text += f"; about {n} paired seeds would decide (80% power, at the observed spread)"
    per_seed = _study_seconds_per_seed(groups)
    if per_seed:
        text += f", a study of about {fmt.number(n * per_seed / 60)} min on this machine, one cell at a time"
    return text + ", or `--until-decided` spends them only on these methods."


def _budget(groups: list[Group], arms: list[Arm], fid_target: float | None) -> str:
    """The --steps an extrapolation of the censored candidates' curves says would decide (report/extrapolate.py):
    that of the candidate whose every seed would get there first."""
    if fid_target is None:
        return ""
    from distgan.report.extrapolate import budget_text, seed_updates

    by_name = {g.name: g for g in groups}
    seeds = len({r.seed for g in groups for r in g.finished})

    def slowest_seed(arm: Arm) -> float:
        fitted = [seed_updates(r.evals, fid_target) for r in by_name[arm.name].finished]
        return max((u for u in fitted if u is not None), default=math.inf)

    fitted = [a for a in arms if a.name in by_name]
    if not fitted:
        return ""
    first = min(fitted, key=slowest_seed)
    return budget_text(by_name[first.name].finished, first.name, fid_target, _study_seconds_per_seed(groups), seeds)


def _censored_before(leader: Arm, other: Arm) -> bool:
    """Whether `other` missed the target on a seed where its run ended before `leader` reached it."""
    return any(other.times.get(seed, 0.0) is None and t is not None and other.budgets.get(seed, 0.0) < t
               for seed, t in leader.times.items())


def _study_seconds_per_seed(groups: list[Group]) -> float | None:
    walls = [(r.summary or {}).get("wall_s") for g in groups for r in g.finished]
    seeds = {r.seed for g in groups for r in g.finished}
    walls = [w for w in walls if is_number(w)]
    return sum(walls) / len(seeds) if walls and seeds else None


def recommend(groups: list[Group], target: Target | None, points: bool, profiles: list[Profile],
              requirements: list[str], margin: float = TIME_MARGIN, quality_margin: float = QUALITY_MARGIN,
              timing: dict[str, Any] | None = None, alpha: float = stats.ALPHA
              ) -> tuple[list[Decision], Projections]:
    """One decision per profile and worker count (largest N first); `timing`: compute_timing.json's labels."""
    projections = Projections(timing)
    errors = {label: entry["error"] for label, entry in (timing or {}).items()}
    if target is None:
        return [], projections
    counts = sorted({g.workers for g in groups if g.method != "standalone" and g.finished}, reverse=True) or [1]
    return [decide(groups, p, target, points, requirements, projections, n, margin, quality_margin, errors, alpha)
            for p in profiles for n in counts], projections


def rule(points: bool, margin: float = TIME_MARGIN, quality_margin: float = QUALITY_MARGIN) -> str:
    return RULE.format(measure=measure(points)[1], margin=margin, limit=1 + margin, quality_margin=quality_margin,
                       endpoint=endpoint.DESCRIPTION)


def stages_text(looks: int, stages: list[dict[str, Any]]) -> list[str]:
    """A sequential study's looks, as the rule's last sentences."""
    if looks <= 1:
        return []
    lines = [f"Sequential (--until-decided): every look decides at alpha / {looks} = {stats.ALPHA / looks:.3g}, "
             f"so the false-pick rate over all {looks} looks is at most {stats.ALPHA:.0%}. A profile decided at a "
             "look keeps that pick; the seeds added later serve the profiles still open."]
    for s in stages:
        lines.append(f"Look {s.get('look')}: {s.get('cells')} cells, seeds {_seed_span(s.get('seeds') or [])}, "
                     f"{', '.join(s.get('methods') or [])}; "
                     + (f"decided {', '.join(s['decided'])}; " if s.get("decided") else "")
                     + f"{s.get('outcome', s.get('state', ''))}.")
    return lines


def _seed_span(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[-1] + 1)) else \
        ", ".join(map(str, seeds))
