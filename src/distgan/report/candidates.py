"""Who may be picked: the network profiles to decide on, and the requirements a candidate must meet
(`--network`, `--require`)."""

from __future__ import annotations

import re
from typing import Any, Callable

from distgan.errors import DistganError
from distgan.methods import REGISTRY
from distgan.network.profiles import Profile, parse_profile
from distgan.report import fmt
from distgan.report.aggregate import Group

DEFAULT_PROFILES = ("datacenter", "lan", "wan", "edge")
REQUIREMENTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "data-stays-local": (lambda spec: spec.data_stays_local, "no worker's records leave it"),
    "no-restart": (lambda spec: spec.on_worker_death == "drop", "a worker's death never restarts the group"),
    "no-server": (lambda spec: not spec.has_server, "no server rank to trust or to bottleneck"),
}
DEFAULT_REQUIREMENTS = ("data-stays-local",)

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


def _spec(group: Group):
    return REGISTRY[group.method]
