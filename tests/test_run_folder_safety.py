"""What distgan writes in a run folder stays there, with modes of its choosing, and a resume trains only on
checkpoints of its own run and rank (issue 44, items 2 to 4)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import read_summary, refused, run_cli

TINY = ["--dataset", "digits", "--steps", "6", "--batch-size", "8", "--eval-samples", "200", "--checkpoint-every",
        "3", "--sample-every", "3", "--log-every", "3", "--backend", "sim", "--no-progress", "--no-tensorboard"]
MD_GAN = ["train", "--method", "md-gan", "--workers", "2", *TINY]


@pytest.fixture(scope="module")
def finished_md_gan(tmp_path_factory) -> Path:
    """A finished md-gan run with 2 workers (checkpoints of rank 0 and both workers)."""
    from distgan.cli import main

    out = tmp_path_factory.mktemp("md-gan")
    assert main([*MD_GAN, "--out", str(out)]) == 0
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- item 2: no write follows a symlink -------------------------------------------------------------------------
@pytest.mark.slow
def test_a_resume_replaces_planted_links_and_writes_through_none(capsys, tmp_path, finished_md_gan):
    """Links planted in a run folder (to files another user wants overwritten) are replaced, never followed: the
    process launcher's launch_config.json and pids.json, the recorder's files, and the samples folder."""
    run = copy_of(finished_md_gan, tmp_path)
    victims = tmp_path / "victims"
    victims.mkdir()
    planted = {}
    for name in ("launch_config.json", "pids.json", "config.json", "partition.json", "metrics.jsonl",
                 "trace.jsonl", "summary.json"):
        target = victims / name
        # config.json must still read as the run's: the resume loads it (through the link) before any write
        target.write_bytes((run / name).read_bytes() if name == "config.json" else b"precious\n")
        (run / name).unlink(missing_ok=True)
        (run / name).symlink_to(target)
        planted[name] = target
    (victims / "samples").mkdir()
    shutil.rmtree(run / "samples")
    (run / "samples").symlink_to(victims / "samples")
    before = contents(victims)

    code, err = run_cli(capsys, "train", "--resume", str(run), "--steps", "9", "--backend", "process")
    assert code == 0, err
    assert contents(victims) == before  # not one byte written through a link
    for name in ("config.json", "partition.json", "metrics.jsonl", "trace.jsonl", "summary.json"):
        assert not (run / name).is_symlink() and (run / name).is_file(), name
    assert not (run / "samples").is_symlink() and list((run / "samples").glob("*.png"))
    assert read_summary(run)["g_updates"] == 9


def test_a_growing_file_replaces_a_fifo_a_hard_link_and_a_link(tmp_path):
    from distgan.run_files import open_for_append

    other = tmp_path / "other"
    other.write_text("kept\n")
    os.link(other, tmp_path / "hard")
    os.mkfifo(tmp_path / "fifo")  # opening it to write would block until someone reads
    (tmp_path / "link").symlink_to(other)
    for name in ("hard", "fifo", "link"):
        with open_for_append(tmp_path / name, fresh=True) as f:
            f.write("ours\n")
        assert (tmp_path / name).read_text() == "ours\n"
        assert stat.S_ISREG(os.lstat(tmp_path / name).st_mode)
    assert other.read_text() == "kept\n"


# --- item 3: modes whatever the umask ---------------------------------------------------------------------------
def modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)) or ".": stat.S_IMODE(os.lstat(p).st_mode)
            for p in [folder, *folder.rglob("*")]}


@pytest.mark.slow
@pytest.mark.parametrize("umask, folder, file, checkpoint", [(0o000, 0o755, 0o644, 0o600),
                                                             (0o077, 0o700, 0o600, 0o600)])
def test_modes_are_explicit_whatever_the_umask(tmp_path, umask, folder, file, checkpoint):
    """Folders 0755, files 0644, checkpoints and privacy ledgers 0600; a stricter umask narrows them, a looser
    one never widens them."""
    out = tmp_path / "new" / "run"
    cmd = [sys.executable, "-m", "distgan", *MD_GAN, "--tensorboard", "--dp-epsilon", "50", "--out", str(out)]
    done = subprocess.run(cmd, preexec_fn=lambda: os.umask(umask), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    found = modes(out)
    assert found["."] == folder and stat.S_IMODE(os.stat(out.parent).st_mode) == folder
    assert found["samples"] == folder and found["privacy"] == folder
    assert any(name.startswith("events.out.tfevents") for name in found)
    for name, m in found.items():
        if name in (".", "samples", "privacy"):
            continue
        private = name.endswith(".pt") or name.startswith("privacy/")
        assert m == (checkpoint if private else file), (name, oct(m))


# --- item 4: checkpoints bound to their run and rank -------------------------------------------------------------
def test_a_checkpoint_of_another_run_with_the_same_settings_is_refused(capsys, tmp_path, finished_md_gan):
    run = copy_of(finished_md_gan, tmp_path)
    other = tmp_path / "other"
    code, err = run_cli(capsys, *MD_GAN, "--steps", "9", "--out", str(other))  # the same settings, 3 steps more
    assert code == 0, err
    shutil.copy(other / "checkpoint_rank1.pt", run / "checkpoint_rank1.pt")
    before = contents(run)
    line = refused(capsys, "train", "--resume", str(run), "--steps", "12")
    assert f"{run / 'checkpoint_rank1.pt'} was written by another run (run id" in line
    assert contents(run) == before


def test_a_workers_checkpoint_copied_over_anothers_is_refused(capsys, tmp_path, finished_md_gan):
    run = copy_of(finished_md_gan, tmp_path)
    shutil.copy(run / "checkpoint_rank1.pt", run / "checkpoint_rank2.pt")
    before = contents(run)
    line = refused(capsys, "train", "--resume", str(run), "--steps", "12")
    assert f"{run / 'checkpoint_rank2.pt'} is rank 1's checkpoint, not rank 2's" in line
    assert contents(run) == before


def test_the_run_id_is_made_at_the_start_and_kept_through_a_resume(capsys, tmp_path, finished_md_gan):
    run = copy_of(finished_md_gan, tmp_path)
    run_id = json.loads((run / "config.json").read_text())["run_id"]
    assert len(run_id) == 32
    code, err = run_cli(capsys, "train", "--resume", str(run), "--steps", "9")
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["run_id"] == run_id
    for rank, name in enumerate(["checkpoint.pt", "checkpoint_rank1.pt", "checkpoint_rank2.pt"]):
        written_by = torch.load(run / name, weights_only=True)["run"]
        assert (written_by["run_id"], written_by["rank"]) == (run_id, rank)
