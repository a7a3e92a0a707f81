"""Every script in benchmarks/ still starts: `--help` exits 0 and prints argparse's usage (so it ran nothing)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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


# Runs every script's `--help` in one child process, as `python SCRIPT --help` would (its folder first on the path,
# run as __main__): one import of torch for all of them instead of one each (about 3.5 s of a core a script).
_HELP_ALL = """
import contextlib, io, json, runpy, sys
results = {}
for script in sys.argv[1:]:
    out, err, code = io.StringIO(), io.StringIO(), 0
    sys.argv = [script, "--help"]
    sys.path.insert(0, script.rsplit("/", 1)[0])
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:
        code, err = 1, io.StringIO(err.getvalue() + repr(e))
    finally:
        sys.path.pop(0)
    results[script] = {"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def helps() -> dict[Path, subprocess.CompletedProcess]:
    """Every script's `--help`, all in one child process."""
    done = subprocess.run([sys.executable, "-c", _HELP_ALL, *map(str, SCRIPTS)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    return {script: subprocess.CompletedProcess(script, **results[str(script)]) for script in SCRIPTS}


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
