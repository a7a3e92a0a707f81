"""Network profiles: one link per rank with its up and down bandwidth and its latency, by name or `BW,LATENCY`.

A profile's latency is the one-way latency of a message between two ranks; each rank's link carries half of it,
so a message from rank a to rank b takes latency_a/2 + latency_b/2 + its bytes through the slower link.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from distgan.errors import DistganError

UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
# Payload per byte on the wire for TCP over Ethernet (MTU 1500, timestamps on): 1448 of every 1514 bytes a link
# carries are the message's. A profile's bandwidth is the link's; its flows get this share of it.
PAYLOAD = 1448 / 1514
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@dataclass(frozen=True)
class Link:
    """One rank's access link: bits per second up (sending) and down (receiving), one-way latency in seconds."""

    up_bps: float
    down_bps: float
    latency_s: float


@dataclass(frozen=True)
class Profile:
    """The same link for every rank (the server's too), and the name it was given by."""

    name: str
    link: Link

    def links(self, ranks: int) -> list[Link]:
        """Every rank's link, its bandwidth reduced to the payload that TCP over Ethernet gets through."""
        link = Link(self.link.up_bps * PAYLOAD, self.link.down_bps * PAYLOAD, self.link.latency_s)
        return [link] * ranks

    def describe(self) -> str:
        up, down, lat = self.link.up_bps, self.link.down_bps, self.link.latency_s
        speed = rate_text(up) if up == down else f"{rate_text(up)} up / {rate_text(down)} down"
        return f"{self.name}: {speed}, {lat * 1e3:g} ms one-way latency"


PROFILES = {
    "datacenter": Link(25e9, 25e9, 50e-6),
    "lan": Link(1e9, 1e9, 0.5e-3),
    "wan": Link(100e6, 100e6, 30e-3),
    "edge": Link(10e6, 50e6, 60e-3),
}
IDEAL = Profile("ideal", Link(math.inf, math.inf, 0.0))  # what compute alone would take


def parse_profile(text: str) -> Profile:
    """A named profile, or `BW,LATENCY` with BW as `100mbit` or `10mbit/50mbit` (up/down), e.g. `1gbit,0.5ms`."""
    name = text.strip().lower()
    if name in PROFILES:
        return Profile(name, PROFILES[name])
    hint = (f"--network expects one of {', '.join(PROFILES)} or BW,LATENCY such as 100mbit,30ms or "
            f"10mbit/50mbit,60ms, got {text!r}")
    parts = name.split(",")
    if len(parts) != 2:
        raise DistganError(hint)
    rates = parts[0].split("/")
    if len(rates) not in (1, 2):
        raise DistganError(hint)
    up = parse_rate(rates[0], hint)
    down = parse_rate(rates[-1], hint)
    return Profile(text.strip(), Link(up, down, parse_latency(parts[1], hint)))


def parse_rate(text: str, hint: str) -> float:
    """`100mbit`, `1gbit`, `500kbit`, `25gbps` (bits per second; `mbyte`/`mBps` are bytes) -> bits per second."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgt]?)(bit|bps|byte|b)?(/s)?\s*", text.lower())
    if not m:
        raise DistganError(f"{hint}: bad bandwidth {text.strip()!r} (a number and a unit, such as 100mbit)")
    value = float(m.group(1)) * UNITS[m.group(2)] * (8 if m.group(3) == "byte" else 1)
    if not 0 < value < math.inf:
        raise DistganError(f"{hint}: bad bandwidth {text.strip()!r} (it must be finite and > 0)")
    return value


def parse_latency(text: str, hint: str) -> float:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*(s|ms|us|µs|ns)?\s*", text.lower())
    value = float(m.group(1)) * TIME_UNITS[m.group(2) or "ms"] if m else math.nan
    if not 0 <= value < math.inf:
        raise DistganError(f"{hint}: bad latency {text.strip()!r} (a number >= 0 with a unit s, ms, us or ns, "
                           "such as 30ms)")
    return value


def rate_text(bps: float) -> str:
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.3g} {unit}"
    return f"{bps:g} bit/s"
