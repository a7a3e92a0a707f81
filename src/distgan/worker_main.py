"""Entry point of one rank started by distgan's own launcher: `python -m distgan.worker_main CONFIG`.

The rank dies with its launcher, even one killed by SIGKILL (the kernel's parent-death signal), so no rank
goes on writing a run folder that nobody owns; its writes are atomic, so none is left half done. A bad
setting or file is one line on stderr and exit code 2, which the launcher repeats. SIGTERM or Ctrl-C ends the
rank after a checkpoint at the step rank 0 names (distgan/stopping.py), with exit code 19.
"""

import ctypes
import logging
import os
import signal
import sys

from distgan.config import load_config_json
from distgan.errors import DistganError
from distgan.logs import setup_logging
from distgan.stopping import REQUESTED, STOPPED_EXIT, RunStopped, request_on_signals
from distgan.training import run_this_rank
from distgan.transport.base import PeerGone

PR_SET_PDEATHSIG = 1


def die_with_launcher() -> None:
    """Ask the kernel for SIGKILL when the launcher dies; exit now if it already has (we were reparented)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the launcher's own handlers are all there is
        return
    launcher = os.environ.get("DISTGAN_LAUNCHER_PID")
    if launcher and os.getppid() != int(launcher):
        os._exit(1)


def leave(code: int) -> None:
    """Exit without the interpreter's teardown: everything the rank writes is written whole and closed by now,
    and tearing down torch and gloo took 5-8 s a rank here (measured on 2026-12-07), which every run waited for."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    die_with_launcher()
    setup_logging()
    request_on_signals()  # SIGTERM (the launcher passes a stop on) and Ctrl-C: checkpoint, then exit
    try:
        run_this_rank(load_config_json(sys.argv[1]))
        code = 0
    except DistganError as e:
        sys.stderr.write(f"distgan: error: rank {os.environ.get('RANK', '?')}: {e}\n")
        code = 2
    except RunStopped:
        code = STOPPED_EXIT
    except PeerGone:
        if not REQUESTED.is_set():
            raise
        code = STOPPED_EXIT  # rank 0 stopped on the request this rank had too, before this rank's next step
    leave(code)
