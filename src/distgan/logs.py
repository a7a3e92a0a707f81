"""Logging setup for the command line: one format, ranks named, progress bars left intact."""

import logging
import os


def setup_logging(level: int = logging.INFO) -> None:
    rank = os.environ.get("RANK")
    prefix = f"[rank {rank}] " if rank not in (None, "0") else ""
    logging.basicConfig(level=level, format=f"%(asctime)s {prefix}%(levelname)s %(message)s", datefmt="%H:%M:%S")
