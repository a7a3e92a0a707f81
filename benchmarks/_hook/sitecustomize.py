"""Loaded at start-up by every Python process that has benchmarks/_hook on PYTHONPATH (benchmarks/throughput.py
puts it there for the ranks distgan's launcher starts): installs benchmarks/steptimer.py's timers in that rank."""

import importlib
import os
import sys

if os.environ.get("DISTGAN_BENCH_TIMING_DIR") and os.environ.get("RANK") is not None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    importlib.import_module("steptimer").install_from_env()
