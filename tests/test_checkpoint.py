"""Checkpoints: a crash mid-write leaves the previous one whole; loading refuses code."""


import pytest
import torch

from distgan import checkpoint
from distgan.checkpoint import load_checkpoint, save_checkpoint
from distgan.errors import DistganError


def test_crash_between_temp_write_and_rename_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 10, "w": torch.ones(3)})

    def crash(tmp: str) -> None:
        raise KeyboardInterrupt  # stands for the process dying here

    monkeypatch.setattr(checkpoint, "_before_rename", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 20, "w": torch.zeros(3)})
    state = load_checkpoint(path)
    assert state["step"] == 10 and torch.equal(state["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left behind


class _RunsCode:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "checkpoint.pt"
    torch.save({"step": 1, "payload": _RunsCode()}, bad)
    with pytest.raises(DistganError, match="cannot load checkpoint"):
        load_checkpoint(bad)
    assert not (tmp_path / "PWNED").exists()


def test_a_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(100)})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DistganError, match="checkpoint.pt: cannot load checkpoint"):
        load_checkpoint(path)
