import subprocess
import sys

import pytest

from distgan.cli import main
from helpers import run_cli


@pytest.mark.parametrize("argv, needle", [
    (["train", "--steps", "-1"], "--steps must be a positive integer"),
    (["train", "--method", "md-gan", "--workers", "0"], "--workers must be a positive integer"),
    (["train", "--method", "gossip"], "unknown --method 'gossip'"),
    (["train", "--dataset", "imagenet"], "imagenet"),
    (["train", "--dataset", "mnist:/no/such/dir"], "/no/such/dir"),
    (["train", "--steps", "ten"], "invalid int value: 'ten'"),
    (["train", "--config", "/no/such.toml"], "/no/such.toml"),
    (["train", "--resume", "/no/such/run"], "/no/such/run"),
    (["train", "--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, needle):
    code, err = run_cli(capsys, *argv, "--out", str(tmp_path / "run"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err


def test_bad_toml_config_is_refused(capsys, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text("steps = 'lots'\n")
    code, err = run_cli(capsys, "train", "--config", str(cfg))
    assert code == 2 and "'steps' must be a int" in err


def test_real_process_exits_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "distgan", "train", "--batch-size", "0", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "distgan: error: --batch-size must be a positive integer, got 0"


def test_help_teaches_the_methods(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("md-gan", "--swap-every", "--partition", "torchrun", "--resume"):
        assert word in out
