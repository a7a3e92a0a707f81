"""SIGTERM and Ctrl-C stop a run at a step's end with a whole checkpoint, so that `--resume` goes on from there.

A signal only sets REQUESTED; no rank is interrupted mid-step. Rank 0 names the stop step, one past the step it
has just finished (the method's `stop_lead` past it where peers run ahead of rank 0), through the transport (a
signed store key over processes, the hub in the simulation), before it sends anything of the next step. So a
rank that waits on rank 0 each step (md-gan, fl-gan, fe-gan, sync-dp, async-ps) cannot end the stop step
without the name being there to read: it checks after each step once it knows a stop is coming (its own signal,
or its heartbeat thread saw the key), and every rank checkpoints that same step. A gossip peer does not wait on
rank 0, so its stop lands two exchanges ahead, past any peer's step; a peer that was further ahead still
checkpoints at its first step past it, and a resume goes on from rank 0's step, as after a crash.
"""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)
REQUESTED = threading.Event()  # this process was asked to stop (one Event for every simulated rank)
SIGNALS: list[int] = []  # the stop signals this process got, in order
STOPPED_EXIT = 19  # exit code of a rank that stopped on request after its checkpoint
GRACE_S = 30.0  # how long the launcher waits for its ranks' checkpoints before it kills them


class RunStopped(KeyboardInterrupt):
    """Raised on a rank once its stop checkpoint is written: the run stopped on request, resumable."""

    def __init__(self, step: int | None):
        super().__init__(f"stopped on request at step {step}")
        self.step = step  # None where the launcher, which holds no model, reports the ranks' stop


def request_on_signals() -> None:
    """A rank's handlers: SIGTERM (schedulers, torchrun, distgan's launcher) and SIGINT (Ctrl-C reaches the
    whole process group) ask for a stop, as often as they come. Escalating is the launcher's job."""

    def handler(signum, frame):  # noqa: ARG001 - signal's signature
        SIGNALS.append(signum)
        REQUESTED.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def request_then_interrupt() -> None:
    """`distgan train`'s own handlers (the launcher, or the simulation's one process): the first SIGTERM or
    Ctrl-C asks for a stop at a checkpoint; a second stops at once, as Ctrl-C always did."""
    from distgan.errors import Terminated

    def handler(signum, frame):  # noqa: ARG001 - signal's signature
        SIGNALS.append(signum)
        if REQUESTED.is_set():
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        REQUESTED.set()
        log.warning("stopping after a checkpoint at the next step; %s again to stop at once",
                    "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C")

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def exit_code() -> int:
    """128 + the first stop signal, as a shell reports a process that signal ended: 143 (SIGTERM), 130 (Ctrl-C)."""
    return 128 + (SIGNALS[0] if SIGNALS else signal.SIGINT)


class StopPlan:
    """One rank's view of a requested stop: whether the step it has just finished is where it checkpoints and
    stops. Rank 0 decides; the others read its decision from `transport`."""

    def __init__(self, transport, rank: int, lead: int = 1):
        self.transport, self.rank, self.lead = transport, rank, lead
        self.at: int | None = None

    def due(self, step: int) -> bool:
        """Whether this rank checkpoints at `step` (a step it has just finished) and then stops."""
        if self.at is None:
            if not REQUESTED.is_set():  # set by a signal, or by the heartbeat thread on seeing rank 0's key
                return False
            if self.rank == 0:
                self.at = step + self.lead
                self.transport.announce_stop(self.at)
                log.warning("stop requested: every rank checkpoints at step %d and stops (resume with --resume)",
                            self.at)
                return False
            self.at = self.transport.stop_step()
            if self.at is None:
                return False
        return step >= self.at

    def after_save(self, step: int) -> None:
        if self.at is not None and step >= self.at:
            raise RunStopped(step)
