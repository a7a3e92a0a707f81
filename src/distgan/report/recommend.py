"""Which method to pick, per network profile: a named method, a tie, or "undecided, and here is what would decide".

The rule, per profile and worker count N:
1. Candidates are the methods that meet the user's requirements (`--require`).
2. Quality: every candidate's final FID is paired with the best candidate's, seed by seed (paired t, Holm over
   the candidates); one that is detectably worse is out.
3. Time: of the rest, the leader has the lowest projected wall time to the target (each run's trace replayed on
   the profile; a seed that never reached the target is censored). The leader is paired with each other
   candidate (paired t on the seconds, or a sign test where a seed is censored; Holm over the candidates).
4. The leader is the pick when it is detectably faster than every other candidate, or equivalent in time within
   the margin (±10% of its time) to those it does not beat: those are a tie, listed cheaper in bytes first.
   Otherwise the profile is undecided, and the section says how many paired seeds, or what budget, would decide.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from distgan import stats
from distgan.errors import DistganError
from distgan.methods import REGISTRY
from distgan.network.profiles import Profile, parse_profile
from distgan.network.project import projector
from distgan.network.replay import Replay
from distgan.report import fmt
from distgan.report.aggregate import Group
from distgan.report.comparison import Comparison, correct
from distgan.report.load import Run
from distgan.report.verdicts import Target, first_reached, is_number, measure, paired_differences

DEFAULT_PROFILES = ("datacenter", "lan", "wan", "edge")
TIME_MARGIN = 0.10  # two methods tie when their times are equivalent within ±10% of the leader's
REQUIREMENTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "data-stays-local": (lambda spec: spec.data_stays_local, "no worker's records leave it"),
    "no-restart": (lambda spec: spec.on_worker_death == "drop", "a worker's death never restarts the group"),
    "no-server": (lambda spec: not spec.has_server, "no server rank to trust or to bottleneck"),
}
DEFAULT_REQUIREMENTS = ("data-stays-local",)
RULE = ("Among the methods that meet the requirements and whose final {measure} is not detectably worse than the "
        "best one's (paired t, Holm), pick the one with the lowest projected wall time to the target. A method "
        "the leader does not beat detectably is a tie only if their times are equivalent within ±{margin:.0%} of "
        "the leader's (the corrected interval inside the margin); a tie lists the cheaper in bytes first. "
        "Otherwise the profile is undecided.")


def parse_profiles(text: str | None) -> list[Profile]:
    """`datacenter,wan` or `100mbit,30ms,edge`: names, and BW,LATENCY pairs (a latency joins the bandwidth
    before it)."""
    if text is None:
        return [parse_profile(p) for p in DEFAULT_PROFILES]
    tokens = [t.strip() for t in str(text).split(",") if t.strip()]
    if not tokens:
        raise DistganError("--network is empty; give profiles such as datacenter,wan or 100mbit,30ms")
    joined: list[str] = []
    for token in tokens:
        if joined and _is_latency(token) and "," not in joined[-1]:
            joined[-1] += "," + token
        else:
            joined.append(token)
    return [parse_profile(p) for p in joined]


def _is_latency(token: str) -> bool:
    import re

    return re.fullmatch(r"[0-9]*\.?[0-9]+\s*(s|ms|us|µs|ns)", token.lower()) is not None


def parse_requirements(text: str | None) -> list[str]:
    """`--require data-stays-local,no-restart`; `none` asks for nothing; unset: DEFAULT_REQUIREMENTS."""
    if text is None:
        return list(DEFAULT_REQUIREMENTS)
    names = [t.strip() for t in str(text).split(",") if t.strip()]
    if names == ["none"]:
        return []
    unknown = [n for n in names if n not in REQUIREMENTS]
    if unknown or not names:
        raise DistganError(f"--require expects a comma list of {', '.join(REQUIREMENTS)} (or none), got {text!r}")
    return names


@dataclass
class Row:
    """One cell on one profile."""

    group: Group
    times: dict[int, float | None]  # seed -> projected seconds to the target (None: never reached)
    bytes_to: list[float]
    interval_s: float  # projected seconds of one evaluation interval (the resolution of a time)
    status: str = ""

    @property
    def name(self) -> str:
        return self.group.name


@dataclass
class Decision:
    profile: Profile
    workers: int
    decided: bool = False
    pick: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # cells that do not meet the requirements, and why
    lines: list[str] = field(default_factory=list)  # the comparisons behind the decision
    what_would_decide: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"decided": self.decided, "pick": self.pick if self.decided else [], "workers": self.workers,
                "network": self.profile.describe(), "rule": self.rule_text(),
                "ranking": [{"method": r.name, "status": r.status, "reached": _reached(r),
                             "projected_s_to_target": _median(list(r.times.values())),
                             "bytes_to_target": statistics.median(r.bytes_to) if r.bytes_to else None,
                             "exposes": _spec(r.group).exposes, "worker_death": _spec(r.group).on_worker_death}
                            for r in self.rows],
                "excluded": self.excluded, "comparisons": self.lines, "what_would_decide": self.what_would_decide}

    def rule_text(self) -> str:
        if not self.decided:
            return f"undecided on {self.profile.name}: {self.what_would_decide}"
        if len(self.pick) == 1:
            return f"{self.pick[0]}: not detectably worse in quality, and the fastest to the target on " \
                   f"{self.profile.name}, detectably or within ±{TIME_MARGIN:.0%}"
        return f"tie of {', '.join(self.pick)} (cheaper in bytes first): equivalent in time within " \
               f"±{TIME_MARGIN:.0%} on {self.profile.name}"


def _spec(group: Group):
    return REGISTRY[group.method]


def _reached(row: Row) -> str:
    return f"{sum(t is not None for t in row.times.values())} of {len(row.times)}"


def _median(values: list[float | None]) -> float | None:
    """The median with censored values (None) above every number; None when it falls on a censored one."""
    ranked = sorted(values, key=lambda v: (v is None, v or 0.0))
    if not ranked:
        return None
    mid = len(ranked) // 2
    if len(ranked) % 2:
        return ranked[mid]
    if ranked[mid] is None:
        return None
    return (ranked[mid - 1] + ranked[mid]) / 2


class Projections:
    """Each run's trace replayed once per profile (replays are cached: the decision map asks again)."""

    def __init__(self) -> None:
        self._on: dict[Path, Callable[[Profile], Replay] | None] = {}
        self._replays: dict[tuple[Path, Profile], Replay] = {}
        self.failed: dict[Path, str] = {}

    def replay(self, run: Run, profile: Profile) -> Replay | None:
        if run.path not in self._on:
            try:
                self._on[run.path] = projector(run.path)[0]
            except DistganError as e:
                self._on[run.path] = None
                self.failed[run.path] = str(e)
        on = self._on[run.path]
        if on is None:
            return None
        key = (run.path, profile)
        if key not in self._replays:
            self._replays[key] = on(profile)
        return self._replays[key]

    def seconds_at(self, run: Run, profile: Profile, step: int) -> float | None:
        replayed = self.replay(run, profile)
        if replayed is None:
            return None
        from distgan.report.network import at_step

        return at_step(replayed, step)


def decide(groups: list[Group], profile: Profile, target: Target, points: bool, requirements: list[str],
           projections: Projections, workers: int) -> Decision:
    """The decision for one profile among the cells at `workers` workers."""
    decision = Decision(profile, workers)
    key, name, lower_better = measure(points)
    candidates = []
    for g in groups:
        if g.workers != workers and g.method != "standalone" or not g.finished or g.method not in REGISTRY:
            continue
        unmet = [r for r in requirements if not REQUIREMENTS[r][0](_spec(g))]
        if unmet:
            decision.excluded.append(f"{g.name}: fails {', '.join(unmet)} ({_spec(g).exposes})")
            continue
        candidates.append(g)
    rows = [_row(g, profile, target, projections) for g in candidates]
    rows = [r for r in rows if r is not None]
    decision.rows = rows
    if not rows:
        decision.what_would_decide = "no candidate cell has a trace to project; run the study again (traces on)"
        return decision
    # 1. quality: every candidate against the best, Holm over the family
    best = min(rows, key=lambda r: _mean_final(r.group, key) * (1 if lower_better else -1))
    quality = correct([Comparison(r.name, best.name, f"final {name}", lower_better, "is better than",
                                  "is detectably worse than",
                                  diffs=paired_differences(r.group, best.group, lambda run: _final(run, key)))
                       for r in rows if r is not best])
    worse = {c.name for c in quality if c.direction > 0}
    for r in rows:
        if r.name in worse:
            r.status = f"out: final {name} detectably worse than {best.name}"
    decision.lines += [f"Quality: {c.line()}" for c in quality if c.name in worse]
    remaining = [r for r in rows if r.name not in worse]
    reached = [r for r in remaining if any(t is not None for t in r.times.values())]
    if not reached:
        for r in remaining:
            r.status = "never reached the target"
        decision.what_would_decide = ("no candidate reached the target on any seed: a larger budget (--steps) or a "
                                      "looser --target would decide")
        return decision
    # 2. time: the leader against every other remaining candidate
    leader = min(reached, key=lambda r: (_median(list(r.times.values())) or math.inf,
                                         statistics.fmean([t for t in r.times.values() if t is not None])))
    others = [r for r in remaining if r is not leader]
    family = correct([_time_comparison(leader, r) for r in others])
    tied, unresolved = [], []
    leader.status = "leader"
    for r, c in zip(others, family):
        if c.direction < 0:
            r.status = f"slower than {leader.name} (Holm p = {_p(c.p_adjusted)})"
        elif c.direction > 0:  # cannot happen by construction unless medians mislead; say it plainly
            r.status = f"faster than {leader.name} on the paired test"
            unresolved.append((r, c))
        elif c.equivalent:
            r.status = f"tie with {leader.name} (within ±{TIME_MARGIN:.0%})"
            tied.append(r)
        else:
            r.status = "not separated from the leader"
            unresolved.append((r, c))
        decision.lines.append(f"Time on {profile.name}: {c.line()}")
    if unresolved:
        decision.what_would_decide = _what_would_decide(leader, unresolved, groups)
        leader.status = "leader, not yet decided"
        return decision
    picks = sorted([leader, *tied], key=lambda r: statistics.median(r.bytes_to) if r.bytes_to else math.inf)
    decision.decided, decision.pick = True, [r.name for r in picks]
    for r in picks:
        r.status = "pick" if len(picks) == 1 else "pick (tie)"
    return decision


def _row(group: Group, profile: Profile, target: Target, projections: Projections) -> Row | None:
    times: dict[int, float | None] = {}
    bytes_to, intervals = [], []
    for run in group.finished:
        end = projections.seconds_at(run, profile, int(run.evals[-1].get("step", 0)) if run.evals else 0)
        if end is None:
            continue
        reached = first_reached(run, target)
        times[run.seed] = None if reached is None else projections.seconds_at(run, profile, int(reached["g_updates"]))
        if reached is not None and is_number(reached.get("bytes")):
            bytes_to.append(reached["bytes"])
        intervals.append(end / max(1, len(run.evals)))
    if not times:
        return None
    return Row(group, times, bytes_to, statistics.fmean(intervals))


def _time_comparison(leader: Row, other: Row) -> Comparison:
    seeds = sorted(set(leader.times) & set(other.times))
    pairs = [(leader.times[s], other.times[s]) for s in seeds]
    common = dict(name=leader.name, ref=other.name, what="projected seconds to the target", lower_better=True,
                  better="reaches the target sooner than", worse="reaches the target later than",
                  resolution=max(leader.interval_s, other.interval_s),
                  resolution_text="one evaluation interval of projected time")
    if all(a is not None and b is not None for a, b in pairs):
        reached = [t for t in leader.times.values() if t is not None]
        return Comparison(**common, diffs=[a - b for a, b in pairs],
                          margin=TIME_MARGIN * statistics.fmean(reached))
    wins = sum(a is not None and (b is None or a < b) for a, b in pairs)
    losses = sum(b is not None and (a is None or b < a) for a, b in pairs)
    missed = [f"{r.name} missed on {sum(t is None for t in r.times.values())} seed(s)"
              for r in (leader, other) if any(t is None for t in r.times.values())]
    return Comparison(**common, outcomes=(wins, losses, len(pairs) - wins - losses),
                      censored="censored at the budget: " + "; ".join(missed))


def _what_would_decide(leader: Row, unresolved: list[tuple[Row, Comparison]], groups: list[Group]) -> str:
    needed = []
    budget = False
    for _, c in unresolved:
        alpha = stats.ALPHA / max(1, c.family_size)
        if c.outcomes is not None:
            n = stats.seeds_for_sign_test(*c.outcomes, alpha)
            budget = True
        elif len(c.diffs) >= 2 and statistics.stdev(c.diffs) > 0:
            mean, sd = statistics.fmean(c.diffs), statistics.stdev(c.diffs)
            options = [x for x in (stats.seeds_to_detect(mean, sd, alpha),
                                   stats.seeds_for_equivalence(mean, sd, c.margin or 0.0, alpha)) if x]
            n = min(options) if options else None
        else:
            n = None
        needed.append(n)
    names = ", ".join(r.name for r, _ in unresolved)
    seeds = [n for n in needed if n is not None]
    text = f"{leader.name} leads but is not separated from {names}"
    if any(c.outcomes is None and len(c.diffs) < 2 for _, c in unresolved):
        text += "; one paired seed gives no interval: run at least 3 (--seeds)"
    elif seeds and len(seeds) == len(needed):
        n = max(seeds)
        text += f"; about {n} paired seeds would decide (80% power, at the observed spread)"
        per_seed = _study_seconds_per_seed(groups)
        if per_seed:
            text += f", a study of about {fmt.number(n * per_seed / 60)} min on this machine, one cell at a time " \
                    "(--jobs runs cells side by side)"
    else:
        text += "; more seeds than the power figure can bound at this spread"
    if budget:
        text += "; a larger budget (--steps), so that every seed reaches the target, would let a paired t test decide"
    return text + "."


def _study_seconds_per_seed(groups: list[Group]) -> float | None:
    walls = [(r.summary or {}).get("wall_s") for g in groups for r in g.finished]
    seeds = {r.seed for g in groups for r in g.finished}
    walls = [w for w in walls if is_number(w)]
    return sum(walls) / len(seeds) if walls and seeds else None


def _mean_final(group: Group, key: str) -> float:
    values = [v for v in (_final(r, key) for r in group.finished) if is_number(v)]
    return statistics.fmean(values) if values else math.inf


def _final(run: Run, key: str) -> Any:
    return (run.summary or {}).get("final_eval", {}).get(key)


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


@dataclass
class PickSection:
    """One profile and N as the report prints it."""

    title: str
    verdict: str
    header: list[str]
    rows: list[list[str]]
    lines: list[str]


def recommend(groups: list[Group], target: Target | None, points: bool, profiles: list[Profile],
              requirements: list[str]) -> tuple[list[Decision], Projections]:
    """One decision per profile and worker count (largest N first)."""
    projections = Projections()
    if target is None:
        return [], projections
    counts = sorted({g.workers for g in groups if g.method != "standalone" and g.finished}, reverse=True) or [1]
    return [decide(groups, p, target, points, requirements, projections, n) for p in profiles for n in counts], \
        projections


def rule(points: bool) -> str:
    return RULE.format(measure=measure(points)[1], margin=TIME_MARGIN)


def summary_rows(decisions: list[Decision]) -> tuple[list[str], list[list[str]]]:
    header = ["network", "N", "pick", "decided"]
    rows = [[d.profile.describe(), str(d.workers), ", ".join(d.pick) if d.decided else "undecided",
             "yes" if d.decided else "no: " + d.what_would_decide] for d in decisions]
    return header, rows


def section(decision: Decision, points: bool) -> PickSection:
    key, name, _ = measure(points)
    header = ["method", "what leaves a worker", "a worker's death", "reached", "projected s to target",
              "bytes to target", f"final {name}", "standing"]
    rows = []
    for r in decision.rows:
        spec = _spec(r.group)
        rows.append([r.name, spec.exposes, "dropped" if spec.on_worker_death == "drop" else "group restarts",
                     f"{_reached(r)} seeds", _times_text(list(r.times.values())),
                     fmt.size(statistics.median(r.bytes_to)) if r.bytes_to else "never reached",
                     fmt.stat(_final_stat(r.group, key)), r.status])
    if decision.decided:
        verdict = f"Pick: {' = '.join(decision.pick)}" + (" (a tie, cheaper in bytes first)."
                                                           if len(decision.pick) > 1 else ".")
    else:
        verdict = f"Undecided: {decision.what_would_decide}"
    lines = [*decision.lines, *(f"Not a candidate: {e}" for e in decision.excluded)]
    return PickSection(f"{decision.profile.describe()}, N = {decision.workers}", verdict, header, rows, lines)


def _times_text(values: list[float | None]) -> str:
    if all(v is None for v in values):
        return "never reached"
    ranked = sorted(values, key=lambda v: (v is None, v or 0.0))
    median = _median(values)

    def show(v: float | None) -> str:
        return "> budget" if v is None else fmt.number(v)
    if len(values) == 1:
        return f"{show(values[0])} (1 seed)"
    return f"{show(median)} [{show(ranked[0])}, {show(ranked[-1])}]"


def _final_stat(group: Group, key: str):
    from distgan.report.aggregate import final

    return final(group, key)


def recommendation_json(decisions: list[Decision], points: bool, requirements: list[str],
                        target: Target | None) -> dict[str, Any]:
    """recommendation.json: per profile the decision at the largest N, and every N under by_workers."""
    profiles: dict[str, Any] = {}
    for d in decisions:
        entry = profiles.setdefault(d.profile.name, {**d.to_json(), "by_workers": {}})
        entry["by_workers"][str(d.workers)] = d.to_json()
    return {"rule": rule(points), "requirements": requirements,
            "target": target.describe() if target else None, "profiles": profiles}
