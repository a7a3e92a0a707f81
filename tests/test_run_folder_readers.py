"""Issue 44, item 5's last readers: the launcher's restarts.json, the privacy ledgers and a study's cell files are
read as untrusted input (distgan/safe_read.py): one UnreadableFile naming the file, never a traceback or a wait
on a FIFO."""

from __future__ import annotations

import json
import os

import pytest

from distgan import privacy_ledger
from distgan.safe_read import UnreadableFile, read_list


def test_restarts_json_must_be_a_list_and_a_fifo_does_not_block(tmp_path):
    path = tmp_path / "restarts.json"
    assert read_list(path) == []  # none yet
    path.write_text(json.dumps({"rank": 2}))
    with pytest.raises(UnreadableFile, match="restarts.json: a JSON dict, not a list"):
        read_list(path)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(UnreadableFile, match="restarts.json"):
        read_list(path)


@pytest.mark.parametrize("content", [b"\xff\xfe", b'{"worker": 0}', b"[]"])
def test_a_damaged_privacy_ledger_is_one_line_naming_it(tmp_path, content):
    folder = tmp_path / privacy_ledger.FOLDER
    folder.mkdir()
    (folder / "worker0.0.json").write_bytes(content)
    with pytest.raises(UnreadableFile, match="worker0.0.json"):
        privacy_ledger.read(tmp_path)


def test_a_study_cell_with_unreadable_files_is_only_not_resumed(tmp_path):
    from distgan.compare import _read_summary_failures, _write_failures

    (tmp_path / "summary.json").write_bytes(b"\xff")
    assert _read_summary_failures(tmp_path) == []
    (tmp_path / "failures.json").write_bytes(b"\xff")
    _write_failures(tmp_path, [], [{"cell": "a", "error": "x"}])  # an unreadable record of other parts is dropped
    assert json.loads((tmp_path / "failures.json").read_text()) == [{"cell": "a", "error": "x"}]
