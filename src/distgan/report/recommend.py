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

report/pick.py prints the decisions; this module only makes them.
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
from distgan.report.comparison import Comparison, correct, p_text
from distgan.report.load import Run
from distgan.report.network import at_step
from distgan.report.verdicts import Target, final_value, first_reached, is_number, measure, paired_differences
from distgan.stats import censored_median

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
    """`--require data-stays-local,no-restart,epsilon<=3`; `none` asks for nothing; unset: DEFAULT_REQUIREMENTS."""
    if text is None:
        return list(DEFAULT_REQUIREMENTS)
    names = [t.strip().replace(" ", "") for t in str(text).split(",") if t.strip()]
    if names == ["none"]:
        return []
    unknown = [n for n in names if n not in REQUIREMENTS and epsilon_bound(n) is None]
    if unknown or not names:
        raise DistganError(f"--require expects a comma list of {', '.join(REQUIREMENTS)} or epsilon<=X (or none), "
                           f"got {text!r}")
    return names


def epsilon_bound(requirement: str) -> float | None:
    """X of `epsilon<=X`, or None for any other requirement."""
    import re

    found = re.fullmatch(r"(?:epsilon|eps|ε)<=([0-9]*\.?[0-9]+)", requirement)
    return float(found.group(1)) if found else None


def unmet(requirement: str, group: Group) -> str | None:
    """Why `group` fails `requirement`, or None when it meets it."""
    bound = epsilon_bound(requirement)
    if bound is None:
        meets, _ = REQUIREMENTS[requirement]
        return None if meets(_spec(group)) else f"fails {requirement} ({_spec(group).exposes})"
    spent = [((r.summary or {}).get("privacy") or {}).get("epsilon_spent") for r in group.finished]
    if not spent or any(e is None for e in spent):
        return f"fails {requirement} (trained without differential privacy)"
    if max(spent) > bound:
        return f"fails {requirement} (a worker spent epsilon {fmt.number(max(spent))})"
    return None


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
                "ranking": [{"method": r.name, "status": r.status, "reached": reached_text(r),
                             "projected_s_to_target": censored_median(list(r.times.values())),
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


def reached_text(row: Row) -> str:
    return f"{sum(t is not None for t in row.times.values())} of {len(row.times)}"


class Projections:
    """Each run's trace replayed once per profile (replays are cached: the decision map asks again)."""

    def __init__(self) -> None:
        self._on: dict[Path, Callable[[Profile], Replay] | None] = {}
        self._replays: dict[tuple[Path, Profile], Replay] = {}
        self.failed: dict[Path, str] = {}

    def projector(self, run: Run) -> Callable[[Profile], Replay] | None:
        """The run's trace, read and calibrated once, as a function of the profile; None (and why, in `failed`)
        when it cannot be projected."""
        if run.path not in self._on:
            try:
                self._on[run.path] = projector(run.path)[0]
            except DistganError as e:
                self._on[run.path] = None
                self.failed[run.path] = str(e)
        return self._on[run.path]

    def replay(self, run: Run, profile: Profile) -> Replay | None:
        on = self.projector(run)
        if on is None:
            return None
        key = (run.path, profile)
        if key not in self._replays:
            self._replays[key] = on(profile)
        return self._replays[key]

    def seconds_at(self, run: Run, profile: Profile, step: int) -> float | None:
        replayed = self.replay(run, profile)
        return None if replayed is None else at_step(replayed, step)


def decide(groups: list[Group], profile: Profile, target: Target, points: bool, requirements: list[str],
           projections: Projections, workers: int) -> Decision:
    """The decision for one profile among the cells at `workers` workers."""
    decision = Decision(profile, workers)
    key, name, lower_better = measure(points)
    candidates = []
    for g in groups:
        if g.workers != workers and g.method != "standalone" or not g.finished or g.method not in REGISTRY:
            continue
        why = [w for w in (unmet(r, g) for r in requirements) if w]
        if why:
            decision.excluded.append(f"{g.name}: {'; '.join(why)}")
            continue
        candidates.append(g)
    rows = [_row(g, profile, target, projections) for g in candidates]
    rows = [r for r in rows if r is not None]
    decision.rows = rows
    if not rows:
        decision.what_would_decide = "no candidate cell has a trace to project; run the study again (traces on)"
        return decision
    # 1. quality: every candidate against the best, Holm over the family
    best = min(rows, key=lambda r: _meanfinal_value(r.group, key) * (1 if lower_better else -1))
    quality = correct([Comparison(r.name, best.name, f"final {name}", lower_better, "is better than",
                                  "is detectably worse than",
                                  diffs=paired_differences(r.group, best.group, lambda run: final_value(run, key)))
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
    leader = min(reached, key=lambda r: (censored_median(list(r.times.values())) or math.inf,
                                         statistics.fmean([t for t in r.times.values() if t is not None])))
    others = [r for r in remaining if r is not leader]
    family = correct([_time_comparison(leader, r) for r in others])
    tied, unresolved = [], []
    leader.status = "leader"
    for r, c in zip(others, family):
        if c.direction < 0:
            r.status = f"slower than {leader.name} (Holm p = {p_text(c.p_adjusted)})"
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


def _meanfinal_value(group: Group, key: str) -> float:
    values = [v for v in (final_value(r, key) for r in group.finished) if is_number(v)]
    return statistics.fmean(values) if values else math.inf


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
