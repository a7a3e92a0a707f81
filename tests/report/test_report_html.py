"""The HTML and Markdown report of a real (small) study."""

from __future__ import annotations

import re
from pathlib import Path

from distgan.cli import main


def test_html_is_self_contained_with_table_and_one_sample_per_method(digits_study):
    study, html_path = digits_study
    html = html_path.read_text()
    assert '<table class="results">' in html
    for label in study.methods:
        assert f"<td>{label}</td>" in html
        assert len(re.findall(rf'alt="samples: {label}( N=\d+)?"', html)) == 1
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"https?://|<link|<script", html)
    assert "real-vs-real FID floor" in html
    assert "one MD-GAN iteration" in html  # each method's step definition


def test_markdown_links_plots_and_samples_that_exist(digits_study):
    _, html_path = digits_study
    root = html_path.parent
    md = (root / "report.md").read_text()
    assert "| method | N |" in md
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert {"fid_vs_updates.png", "fid_vs_wall.png", "fid_vs_bytes.png"} <= set(links)
    assert all((root / link).is_file() for link in links)
    assert sum("/samples/step_" in link for link in links) == 2


def test_distgan_report_rebuilds(digits_study, capsys):
    _, html_path = digits_study
    before = html_path.stat().st_mtime_ns
    (html_path.parent / "fid_vs_wall.png").unlink()
    assert main(["report", str(html_path.parent)]) == 0
    assert html_path.stat().st_mtime_ns >= before and (html_path.parent / "fid_vs_wall.png").is_file()


def test_distgan_report_on_a_folder_without_runs_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no run folders" in err[0] and str(Path(tmp_path)) in err[0]
