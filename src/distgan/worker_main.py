"""Entry point of one rank started by distgan's own launcher: `python -m distgan.worker_main CONFIG`."""

import sys

from distgan.config import load_config_json
from distgan.logs import setup_logging
from distgan.training import run_this_rank

if __name__ == "__main__":
    setup_logging()
    run_this_rank(load_config_json(sys.argv[1]))
