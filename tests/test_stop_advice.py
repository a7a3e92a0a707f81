"""Issue 44, item 5: only `train` has a run to resume, so a stopped `report` or `project` suggests no --resume."""

from __future__ import annotations

import pytest

from helpers import run_cli


@pytest.mark.parametrize("command", [["report"], ["project", "--network", "wan"]])
def test_an_interrupted_report_or_projection_does_not_suggest_resume(tmp_path, capsys, monkeypatch, command):
    import distgan.api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(distgan.api, command[0], interrupted)
    code, err = run_cli(capsys, command[0], str(tmp_path), *command[1:])
    assert code == 130 and "--resume" not in err and err.strip() == "distgan: interrupted", err
