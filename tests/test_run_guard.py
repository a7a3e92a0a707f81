"""A run folder refuses what would break it, before anything in it is written (distgan/run_guard.py)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from distgan import run_guard
from distgan.checkpoint import atomic_write_bytes
from distgan.errors import DistganError
from helpers import read_summary, refused, run_cli

TINY = ["--dataset", "digits", "--steps", "6", "--batch-size", "8", "--eval-samples", "200", "--checkpoint-every",
        "3", "--sample-every", "100", "--log-every", "3", "--backend", "sim", "--no-progress", "--no-tensorboard"]


@pytest.fixture(scope="module")
def finished_md_gan(tmp_path_factory) -> Path:
    """A finished md-gan run with 2 workers (checkpoints of rank 0 and both workers)."""
    from distgan.cli import main

    out = tmp_path_factory.mktemp("md-gan")
    assert main(["train", "--method", "md-gan", "--workers", "2", *TINY, "--out", str(out)]) == 0
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize("out, needle", [("", "--out is empty"), ("/", "is the filesystem root")])
def test_out_must_be_a_folder_for_a_run(capsys, out, needle):
    assert needle in refused(capsys, "train", *TINY, "--out", out)


def test_a_folder_of_other_files_is_refused_and_left_alone(capsys, tmp_path):
    (tmp_path / "thesis.tex").write_text("mine")
    line = refused(capsys, "train", *TINY, "--out", str(tmp_path))
    assert "holds files but is not a distgan run folder" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]


def test_a_file_is_not_a_run_folder(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    assert "is a file" in refused(capsys, "train", *TINY, "--out", str(tmp_path / "f"))


def test_a_held_folder_refuses_a_second_owner(tmp_path):
    with run_guard.owned(tmp_path):
        with pytest.raises(DistganError, match="in use by another distgan run"):
            with run_guard.owned(tmp_path):
                pass
    with run_guard.owned(tmp_path):  # released with the first
        pass
    assert list(tmp_path.iterdir()) == []  # the lock is on the folder: no file left behind


def test_resume_with_other_workers_is_refused_and_changes_nothing(capsys, tmp_path, finished_md_gan):
    run = copy_of(finished_md_gan, tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    line = refused(capsys, "train", "--resume", str(run), "--workers", "3", "--steps", "12")
    assert "workers = 2" in line and "--workers 3 cannot change on resume" in line
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_another_methods_checkpoint_is_refused(capsys, tmp_path, finished_md_gan):
    run = copy_of(finished_md_gan, tmp_path)
    other = tmp_path / "fl-gan"
    assert run_cli(capsys, "train", "--method", "fl-gan", "--workers", "2", "--local-steps", "3", *TINY,
                   "--out", str(other))[0] == 0
    shutil.copy(other / "checkpoint.pt", run / "checkpoint.pt")
    config_before = (run / "config.json").read_bytes()
    line = refused(capsys, "train", "--resume", str(run), "--steps", "12")
    assert "checkpoint.pt was written by another run (method = 'fl-gan'" in line
    assert (run / "config.json").read_bytes() == config_before


@pytest.mark.parametrize("name", ["checkpoint.pt", "checkpoint_rank2.pt"])
def test_a_truncated_checkpoint_is_named_before_any_rank_starts(capsys, tmp_path, finished_md_gan, name):
    run = copy_of(finished_md_gan, tmp_path)
    data = (run / name).read_bytes()
    (run / name).write_bytes(data[: len(data) // 2])
    config_before = (run / "config.json").read_bytes()
    line = refused(capsys, "train", "--resume", str(run), "--steps", "12")
    assert f"{run / name}: cannot load checkpoint" in line
    assert (run / "config.json").read_bytes() == config_before


def test_resume_of_a_finished_run_says_so_and_keeps_its_summary(capsys, tmp_path, finished_md_gan):
    run = copy_of(finished_md_gan, tmp_path)
    summary = (run / "summary.json").read_bytes()
    line = refused(capsys, "train", "--resume", str(run))
    assert "the run finished at step 6; give a larger --steps (e.g. --steps 12)" in line
    assert (run / "summary.json").read_bytes() == summary
    assert read_summary(run)["final_eval"]["fid"] > 0


def test_resume_with_a_larger_budget_goes_on(capsys, tmp_path, finished_md_gan):
    run = copy_of(finished_md_gan, tmp_path)
    (run / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a file")  # a write a killed rank never finished
    code, err = run_cli(capsys, "train", "--resume", str(run), "--steps", "9")
    assert code == 0, err
    assert read_summary(run)["g_updates"] == 9
    assert not list(run.glob(".*.tmp"))


@pytest.mark.parametrize("toml, needle", [
    ("steps = inf", "'steps' must be a int, got inf"),
    ("seed = 4294967296", "--seed must be below 2**32"),
    ("seed = 18446744073709551616", "--seed 18446744073709551616 is out of range; give a whole number below 2**63"),
    ("heartbeat_timeout = inf", "--heartbeat-timeout must be a finite number > 0, got inf"),
    ("master_port = 70000", "--master-port must be a TCP port, 0..65535"),
])
def test_out_of_range_values_are_one_line(capsys, tmp_path, toml, needle):
    config = tmp_path / "run.toml"
    config.write_text(toml + "\n")
    assert needle in refused(capsys, "train", "--config", str(config), "--out", str(tmp_path / "run"))


def test_more_processes_than_memory_holds_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(run_guard, "_available_memory", lambda: 2 * run_guard.RANK_MEMORY)
    line = refused(capsys, "train", "--method", "md-gan", "--workers", "4", "--dataset", "digits",
                   "--out", str(tmp_path / "run"))
    assert "starts 5 processes" in line and "holds about 2" in line and "--backend sim" in line
    assert not (tmp_path / "run").exists()


def test_a_full_disk_keeps_the_last_whole_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"whole")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(DistganError, match="no space left on the device while saving; its last whole version is kept"):
        atomic_write_bytes(path, b"new and longer")
    assert path.read_bytes() == b"whole"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_control_keys_never_name_the_runs_secret(monkeypatch):
    """The store lists its keys to anyone who reaches it, so the secret signs values and is in no key."""
    from distgan.transport.heartbeat import control_prefix

    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT", raising=False)
    monkeypatch.setenv("DISTGAN_RUN_SECRET", "5eed")
    assert control_prefix() == "distgan/0/"


def test_report_skips_a_wrong_shaped_summary(tmp_path, finished_md_gan, caplog):
    from distgan.report.load import load_runs
    from distgan.safe_read import UnreadableFile

    run = copy_of(finished_md_gan, tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "final_eval": 5}))
    (loaded,) = load_runs(tmp_path)
    assert loaded.summary is None
    assert "'final_eval' is int, not dict" in caplog.text
    (run / "summary.json").write_text("[1, 2]")  # not even an object: the file is named, and nothing is guessed
    with pytest.raises(UnreadableFile, match="summary.json"):
        load_runs(tmp_path)
