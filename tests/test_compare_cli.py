"""`distgan compare` and `distgan report` on the command line."""

from __future__ import annotations

import pytest

from distgan.cli import main
from helpers import run_cli


def test_ring8_study_reports_modes_and_quality_and_scales(tmp_path, capsys):
    code, err = run_cli(capsys, "compare", "--dataset", "ring8", "--methods", "standalone,md-gan", "--steps", "30",
                        "--workers", "1,2", "--backend", "sim", "--batch-size", "16", "--seeds", "1",
                        "--out", str(tmp_path), "--no-progress")
    assert code == 0, err
    md = (tmp_path / "report.md").read_text()
    header = next(line for line in md.split("## Results")[1].splitlines() if line.startswith("| method |"))
    assert "modes captured" in header and "high-quality share" in header and "FID" not in header
    assert "95% CI" in header and "## Verdicts" in md and "## Time to target" in md
    results = md.split("## Results")[1].split("## Verdicts")[0]
    rows = [line.split(" | ") for line in results.splitlines() if line.startswith(("| standalone |", "| md-gan |"))]
    assert len(rows) == 3  # standalone once, md-gan at N=1 and N=2
    col = header.split(" | ").index("modes captured (± 95% CI)")
    assert all(row[col].endswith("/ 8") and row[col + 1] != "n/a" for row in rows)
    assert (tmp_path / "scaling.png").is_file() and "Scaling with the number of workers" in md
    assert (tmp_path / "modes_vs_bytes.png").is_file()


@pytest.mark.parametrize("argv, needle", [
    (["--methods", "standalone,gossip"], "unknown method 'gossip' in --methods"),
    (["--workers", "0"], "--workers expects a positive integer or a comma list"),
    (["--workers", "2,x"], "got '2,x'"),
    (["--preset", "nope"], "unknown --preset 'nope'; choose one of: mdgan-paper"),
    (["--seeds", "0"], "--seeds must be a positive integer"),
    (["--backend", "mpi"], "unknown --backend 'mpi'"),
    (["--dataset", "imagenet", "--methods", "standalone"], "imagenet"),
    (["--cells", "fe-gan*"], "--cells fe-gan* matches none of the study's 30 cells"),
    (["--equivalence-margin", "-3"],
     "--equivalence-margin must be a positive amount such as 5, or a share of the reference such as 10%"),
    (["--margin", "ten%"], "--margin must be a share such as 20% or 0.2 (above 0, at most 400%), got 'ten%'"),
    (["--quality-margin", "0"], "--quality-margin must be a share such as 20% or 0.2"),
])
def test_bad_compare_flags_are_one_line_and_exit_2(capsys, tmp_path, argv, needle):
    code, err = run_cli(capsys, "compare", *argv, "--out", str(tmp_path / "s"), "--no-progress")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err


def test_compare_help_teaches(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    out = capsys.readouterr().out
    for word in ("--preset", "mdgan-paper", "1,2,4,8", "distgan report", "skips the cells that finished",
                 "resumes a cell", "--cells"):
        assert word in out


def test_which_method_to_pick_comes_first_and_is_written_for_scripts(tmp_path, capsys):
    """The issue's command, at a smaller budget: both profiles get an entry, and the section precedes Results."""
    code, err = run_cli(capsys, "compare", "--dataset", "ring8", "--methods", "standalone,fl-gan,md-gan",
                        "--workers", "2", "--seeds", "3", "--steps", "60", "--backend", "sim",
                        "--network", "datacenter,wan", "--out", str(tmp_path), "--no-progress")
    assert code == 0, err
    import json

    shape = json.loads((tmp_path / "recommendation.json").read_text())
    assert set(shape["profiles"]) == {"datacenter", "wan"}
    for entry in shape["profiles"].values():
        assert isinstance(entry["decided"], bool) and isinstance(entry["pick"], str)
        assert entry["decided"] == bool(entry["pick"]) and entry["margin"] == 0.2 and entry["quality_margin"] == 0.25
        assert not entry["decided"] or entry["regret_bound"] <= 1.2
        assert {r["method"] for r in entry["ranking"]} == {"fl-gan N=2", "md-gan N=2"}  # standalone pools data
    md = (tmp_path / "report.md").read_text()
    assert md.index("## Which method to pick") < md.index("## Results")
    assert "Rule: Non-inferiority against the best, by multiple comparisons with the best" in md
    assert "### wan: 100 Mbit/s, 30 ms one-way latency, N = 2" in md
