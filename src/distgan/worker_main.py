"""Entry point of one rank started by distgan's own launcher: `python -m distgan.worker_main CONFIG`.

The rank dies with its launcher, even one killed by SIGKILL (the kernel's parent-death signal), so no rank
goes on writing a run folder that nobody owns; its writes are atomic, so none is left half done. A bad
setting or file is one line on stderr and exit code 2, which the launcher repeats.
"""

import ctypes
import os
import signal
import sys

from distgan.config import load_config_json
from distgan.errors import DistganError
from distgan.logs import setup_logging
from distgan.training import run_this_rank

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


if __name__ == "__main__":
    die_with_launcher()
    setup_logging()
    try:
        run_this_rank(load_config_json(sys.argv[1]))
    except DistganError as e:
        sys.stderr.write(f"distgan: error: rank {os.environ.get('RANK', '?')}: {e}\n")
        sys.exit(2)
