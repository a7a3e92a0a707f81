"""What one rank did, step by step: its messages (kind, peer, bytes, seconds) and its compute phases in order.

The transport notes every counted message; methods mark step boundaries (`begin`) and name what they compute
(`phase`). The time between two marks is compute, filed under the phase in force. A record holds one rank's
step as an ordered list of items, which is all `distgan project` needs to replay the run on another network:

    ["c", phase, seconds]                       compute
    ["s", kind, peer, bytes, seconds]           a blocking send (or a control message, waited on)
    ["i", kind, peer, bytes, seconds]           a posted send the rank did not wait for (an asynchronous push)
    ["r", kind, peer, bytes, seconds]           a receive (from `peer`, also when received from any source)
    ["x", kind, peer, bytes, seconds, src]      a swap: `bytes` to `peer` and as many from `src`
    ["a", kind, -1, bytes, seconds]             an all-reduce; `bytes` is what the rank sent, 2(N-1)/N of the tensor

Where processes share a GPU, messages go through host memory: the copies a message made between device and host
are filed as compute under HOST_STAGING just before it, and left out of the message's seconds.

Noting costs two clock reads and one list append per message or phase, so it stays on by default.
"""

from __future__ import annotations

import json
import time
from typing import Any

RECORD_PHASE = "record"  # rank 0's logging, samples and evaluations: bookkeeping, not the method's compute
OTHER = "other"  # compute outside any named phase: the method's glue between messages
SETUP = 0  # the step of what happens before the first `begin` (e.g. fe-gan's label counts)
HOST_STAGING = "host staging"  # device-to-host and host-to-device copies of a message sent over gloo from a GPU
TINY = 1e-4  # compute gaps shorter than this (between two sends, say) join the next compute item


class Trace:
    """One rank's records; `records()` gives them as JSON-ready dicts."""

    def __init__(self, rank: int):
        self.rank = rank
        self.origin = time.perf_counter()
        self.step: int | None = None
        self.label = OTHER
        self.mark = self.origin  # when the current compute segment started
        self.carry = 0.0  # tiny gaps not yet written
        self._records: list[dict[str, Any]] = []
        self._ops: list[list] | None = None
        self.staged = 0.0  # seconds of host staging inside the message being noted

    def begin(self, step: int, updates: int = 1) -> None:
        """Start the record of `step` (the generator update it produces; a round covers `updates` of them).
        Calling it again for the step already open does nothing."""
        if step == self.step and self._ops is not None:
            return
        now = time.perf_counter()
        if self.step == SETUP and self._ops is not None:  # set-up after its messages (building models) is not a step's
            self.mark, self.carry = now, 0.0
        self._close(now)
        self.step, self.label = step, OTHER
        self._ops = []
        self._records.append({"rank": self.rank, "step": step, "updates": updates,
                              "t0": round(now - self.origin, 6), "ops": self._ops})
        self.mark = now

    def phase(self, name: str) -> None:
        """What the rank computes from now on (until the next phase or step), e.g. "D step"."""
        now = time.perf_counter()
        self._segment(now)
        self.label = name

    def note(self, op: str, kind: str, peer: int, nbytes: int, start: float, *extra: int) -> None:
        """A message that began at `start` (a perf_counter reading taken before it) and ended now."""
        now = time.perf_counter()
        if self._ops is None:
            self.begin(SETUP, 0)
        self._segment(start)
        staged, self.staged = self.staged, 0.0
        if staged > 0:
            self._ops.append(["c", HOST_STAGING, round(staged, 6)])
        self._ops.append([op, kind, peer, nbytes, round(max(0.0, now - start - staged), 6), *extra])
        self.mark = now

    def elsewhere(self, start: float, own_seconds: float) -> None:
        """Since `start` the rank waited while a computation it shared with other ranks ran: of that time, only
        `own_seconds` (its share) is its compute, under the phase in force; the rest was other ranks'."""
        now = time.perf_counter()
        if self._ops is None:
            self.begin(SETUP, 0)
        self._segment(start)
        self.mark = now - own_seconds
        self._segment(now)

    def stage(self, seconds: float) -> None:
        """Host staging done inside the message being sent or received: its own item when the message is noted."""
        self.staged += seconds

    def _segment(self, now: float) -> None:
        """File the compute since the last mark under the current phase, merged with a run of the same phase."""
        if self._ops is None:
            self.mark = now
            return
        seconds = now - self.mark
        self.mark = now
        if seconds <= 0:
            return
        if seconds < TINY:
            self.carry += seconds
            return
        seconds, self.carry = seconds + self.carry, 0.0
        ops = self._ops
        if ops and ops[-1][0] == "c" and ops[-1][1] == self.label:
            ops[-1][2] += seconds
        else:
            ops.append(["c", self.label, seconds])

    def _close(self, now: float) -> None:
        if self._ops is None:
            return
        self._segment(now)
        if self.carry:
            self._ops.append(["c", self.label, self.carry])
            self.carry = 0.0
        record = self._records[-1]
        record["wall"] = round(now - self.origin - record["t0"], 6)
        for item in self._ops:
            if item[0] == "c":
                item[2] = round(item[2], 6)
        self._ops = None

    def records(self) -> list[dict[str, Any]]:
        """Every record so far, the open one closed first."""
        self._close(time.perf_counter())
        return self._records

    def encode(self) -> bytes:
        return json.dumps(self.records(), separators=(",", ":")).encode()


def decode(payload: bytes) -> list[dict[str, Any]]:
    return json.loads(payload.decode())


def compute_seconds(record: dict[str, Any], leave_out: str) -> float:
    """The seconds a record spent computing, in every phase but `leave_out`."""
    return sum(op[2] for op in record["ops"] if op[0] == "c" and op[1] != leave_out)


def read_trace(path: Any) -> list[dict[str, Any]]:
    """A run folder's trace.jsonl as a list of records (a last line cut short by a crash is skipped); a line of
    any other shape is an UnreadableFile naming it."""
    from distgan.safe_read import JSONL_LIMIT, bad_line, read_jsonl

    records = []
    for number, record in read_jsonl(path, JSONL_LIMIT):
        problem = record_problem(record)
        if problem:
            raise bad_line(path, number, f"not a trace record ({problem})")
        records.append(record)
    return records


MAX_RANK = 2**20  # the replay builds one link per rank up to the largest
# each op's fields after its letter: a name (kind or phase), a peer rank, a byte count, seconds
OP_FIELDS = {"c": "nt", "s": "npbt", "i": "npbt", "r": "npbt", "x": "npbtp", "a": "npbt"}


def record_problem(record: dict[str, Any]) -> str | None:
    """What is wrong with a trace record's shape (the fields `distgan project` reads), or None."""
    for key in ("rank", "step"):
        if not _whole(record.get(key)):
            return f"{key!r} missing or not a whole number"
    if not 0 <= record["rank"] < MAX_RANK:
        return f"rank {record['rank']} out of range"
    if "updates" in record and not _whole(record["updates"]):
        return "'updates' not a whole number"
    if not isinstance(record.get("ops"), list):
        return "'ops' missing or not a list"
    for i, op in enumerate(record["ops"]):
        fields = OP_FIELDS.get(op[0]) if isinstance(op, list) and op and isinstance(op[0], str) else None
        if fields is None or len(op) < 1 + len(fields) or not all(_fits(v, f) for v, f in zip(op[1:], fields)):
            return f"item {i} of 'ops' is not one of {', '.join(OP_FIELDS)} with its fields"
    return None


def _fits(value: Any, field: str) -> bool:
    if field == "n":
        return isinstance(value, str)
    if field == "p":
        return _whole(value) and -1 <= value < MAX_RANK
    if field == "b":
        return _whole(value) and value >= 0
    return _number(value) and value >= 0


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) < 1e300


class NullTrace(Trace):
    """The trace of a rank that keeps none (`--no-trace`, or a bare transport): every mark does nothing."""

    def __init__(self) -> None:
        super().__init__(-1)

    def begin(self, step: int, updates: int = 1) -> None:
        pass

    def phase(self, name: str) -> None:
        pass

    def stage(self, seconds: float) -> None:
        pass

    def elsewhere(self, start: float, own_seconds: float) -> None:
        pass

    def note(self, op: str, kind: str, peer: int, nbytes: int, start: float, *extra: int) -> None:
        pass

    def records(self) -> list[dict[str, Any]]:
        return []


NULL_TRACE = NullTrace()
