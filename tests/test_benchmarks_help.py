"""Every script in benchmarks/ still starts: `--help` exits 0 and prints argparse's usage (so it ran nothing)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
FILES = sorted(BENCHMARKS.glob("*.py"))


def _is_script(path: Path) -> bool:
    return 'if __name__ == "__main__":' in path.read_text()


SCRIPTS = [p for p in FILES if _is_script(p)]


def test_every_file_is_a_script_or_a_helper_the_scripts_import():
    imported = {m for p in SCRIPTS for m in re.findall(r"^import (\w+)$", p.read_text(), flags=re.M)}
    helpers = [p.stem for p in FILES if not _is_script(p)]
    assert SCRIPTS
    assert [h for h in helpers if h not in imported] == []


@pytest.fixture(scope="module")
def helps() -> dict[Path, subprocess.CompletedProcess]:
    """Every script's `--help`, run a core's worth at a time (each imports torch: about 2 s of one core)."""
    def run(script: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script.relative_to(ROOT)), "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return dict(zip(SCRIPTS, pool.map(run, SCRIPTS)))


@pytest.mark.slow  # some 20 scripts
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_help_exits_0(helps, script: Path):
    done = helps[script]
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout, f"{script.name} has no argparse --help; it printed:\n{done.stdout[-2000:]}"


def test_gpu_check_says_no_gpu_and_exits_0_without_one():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: tests/test_gpu.py covers the script")
    done = subprocess.run(["bash", str(BENCHMARKS / "gpu_check.sh")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0
    assert done.stdout.strip().splitlines() == ["no GPU: torch.cuda.is_available() is False here, so there is "
                                                "nothing to check; run this on a CUDA machine"]
