"""Issue 44, items 7 and 8: a setting that would do nothing, or a number out of range, is refused in one line
that names the fix (exit 2), before anything runs."""

from __future__ import annotations

import pytest

from helpers import refused

TINY_TRAIN = ["--dataset", "ring8", "--backend", "sim", "--steps", "2", "--no-progress"]
TINY_STUDY = ["--methods", "standalone", "--workers", "1", "--seeds", "1", "--dataset", "ring8", "--steps", "2",
              "--backend", "sim", "--jobs", "1", "--no-progress"]


@pytest.mark.parametrize("argv, needles", [
    (["--compress", "int8", "--compress-kinds", ",,,"], ["--compress-kinds ',,,' names no message kind",
                                                         "drop it"]),
    (["--method", "md-gan", "--workers", "2", "--compress-kinds", "md-gan/feedback"],
     ["--compress-kinds does nothing without --compress", "add --compress"]),
    (["--dp-delta", "1e-5"], ["--dp-delta applies only to differentially private training", "--dp-epsilon"]),
    (["--dp-clip", "2"], ["--dp-clip applies only to differentially private training", "--dp-epsilon"]),
    (["--method", "gossip-gan", "--workers", "2", "--gossip-every", "99999999999999999999"],
     ["--gossip-every 99999999999999999999 is out of range", "below 2**63"]),
])
def test_train_settings_that_would_do_nothing_are_refused(capsys, tmp_path, argv, needles):
    line = refused(capsys, "train", *TINY_TRAIN, *argv, "--out", str(tmp_path / "run"))
    assert all(n in line for n in needles), line
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_dp_options_in_a_toml_file_without_epsilon_are_refused(capsys, tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text("dp_clip = 0.5\n")
    line = refused(capsys, "train", *TINY_TRAIN, "--config", str(toml), "--out", str(tmp_path / "run"))
    assert "--dp-clip applies only to differentially private training" in line


def test_dp_options_with_epsilon_pass_the_check():
    from distgan.config import RunConfig

    assert RunConfig.of(dp_epsilon=3.0, dp_clip=0.5).dp_clip == 0.5


@pytest.mark.parametrize("argv, needles", [
    (["--cells", ","], ["--cells ',' names no cell", "drop --cells"]),
    (["--cells", "fe-gan*"], ["matches none of the study's"]),
    (["--require", "epsilon<=3"], ["--require epsilon<=3 needs cells trained with differential privacy",
                                   "add --dp-epsilon 3"]),
    (["--jobs", "0"], ["--jobs must be a positive integer", "got 0"]),
])
def test_compare_settings_that_would_do_nothing_are_refused(capsys, tmp_path, argv, needles):
    line = refused(capsys, "compare", *TINY_STUDY, *argv, "--out", str(tmp_path / "s"))
    assert all(n in line for n in needles), line
    assert not (tmp_path / "s" / "study.json").exists()


@pytest.mark.parametrize("network, needles", [
    ("1e999mbit,0ms", ["bad bandwidth '1e999mbit'", "finite"]),
    ("10mbit,-1ms", ["bad latency '-1ms'", "such as 30ms"]),
    ("10mbit/1e999gbit,1ms", ["bad bandwidth '1e999gbit'"]),
    ("10mbit,1e999s", ["bad latency '1e999s'"]),
])
def test_project_network_out_of_range_names_the_bad_part(capsys, tmp_path, network, needles):
    line = refused(capsys, "project", str(tmp_path), "--network", network)
    assert all(n in line for n in needles) and "inf" not in line.replace("finite", ""), line
