"""`compare`: plans cells, runs them as ordinary run folders, skips finished ones, records failures."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import distgan.training
from distgan.compare import compare
from distgan.errors import DistganError
from distgan.presets import preset
from distgan.study import DEFAULT_STEPS, EVALS_PER_RUN, Study, plan
from helpers import final_state, read_jsonl


def test_standalone_runs_once_per_seed_whatever_the_workers():
    cells = plan(Study(methods=["standalone", "md-gan"], workers=[1, 2], seeds=2, out="x"))
    assert [c.name for c in cells] == ["standalone_w1_s0", "standalone_w1_s1", "md-gan_w1_s0", "md-gan_w1_s1",
                                       "md-gan_w2_s0", "md-gan_w2_s1"]
    assert all(c.config.eval_every == DEFAULT_STEPS // EVALS_PER_RUN for c in cells)


def test_mdgan_paper_preset():
    cells = plan(preset("mdgan-paper"))
    by_label: dict[str, list] = {}
    for c in cells:
        by_label.setdefault(c.label, []).append(c)
    assert {k: [c.workers for c in v] for k, v in by_label.items()} == {
        "standalone b=10": [1] * 3, "standalone b=100": [1] * 3, "fl-gan E=1": [1] * 3 + [2] * 3 + [4] * 3 + [8] * 3
        + [10] * 3, "md-gan k=1": [1] * 3 + [2] * 3 + [4] * 3 + [8] * 3 + [10] * 3,
        "md-gan k=log": [4] * 3 + [8] * 3 + [10] * 3}  # ceil(log2 N) is 1 below 4: those cells would repeat k=1
    assert {c.seed for c in cells} == {0, 1, 2} and {c.config.backend for c in cells} == {"sim"}
    assert by_label["standalone b=100"][0].config.batch_size == 100
    assert by_label["standalone b=10"][0].config.batch_size == 10
    assert all(c.config.options["local_epochs"] == 1 for c in by_label["fl-gan E=1"])
    assert [c.config.method_options().resolved_k(c.workers) for c in by_label["md-gan k=log"]][::3] == [2, 3, 4]
    assert {c.config.dataset for c in cells} == {"digits"} and {c.config.steps for c in cells} == {12000}
    assert by_label["md-gan k=1"][0].name == "md-gan-k1_w1_s0"


def test_mdgan_paper_preset_states_every_difference_from_the_paper():
    """Issue 27: the model (ACGAN there), the data (MNIST there), N (1, 10, 25, 50 there) and the budget."""
    notes = " ".join(preset("mdgan-paper").notes)
    for difference in ("ACGAN", "unconditional GAN", "MNIST", "N in 1, 2, 4, 8, 10", "1, 10, 25 and 50",
                       "12000 generator updates per cell, far fewer than the paper"):
        assert difference in notes, difference


def test_stragglers_preset_sweeps_the_slow_factor_of_one_worker():
    cells = plan(preset("stragglers"))
    assert {(c.config.method, tuple(c.config.slow)) for c in cells} == {
        (m, s) for m in ("fl-gan", "md-gan", "async-ps") for s in ((), ("2:4",), ("2:16",))}
    assert {c.workers for c in cells} == {3}


@pytest.mark.parametrize("changes, needle", [
    ({"methods": ["gossip"]}, "unknown method 'gossip'"),
    ({"workers": [0]}, "--workers must be positive"),
    ({"seeds": 0}, "--seeds must be a positive integer"),
    ({"overrides": {"md-gan": {"kk": 1}}}, "unknown settings ['kk']"),
    ({"steps": -1}, "--steps must be a positive integer"),
    ({"methods": ["md-gan"], "overrides": {"md-gan": {"k": "3"}}}, "exceeds the 2 workers"),
])
def test_bad_studies_are_refused_before_anything_runs(tmp_path, changes, needle):
    study = Study(**{"methods": ["standalone", "md-gan"], "workers": [2], "out": str(tmp_path / "s"), **changes})
    with pytest.raises(DistganError) as e:
        compare(study)
    assert needle in str(e.value)
    assert not (tmp_path / "s").exists()


def test_compare_writes_run_folders_and_skips_finished_cells(tmp_path):
    study = Study(methods=["standalone", "md-gan"], workers=[2], dataset="ring8", steps=30, batch_size=16,
                  backend="sim", out=str(tmp_path), progress=False, seeds=1)
    report = compare(study)
    assert report == tmp_path / "report.html" and (tmp_path / "report.md").is_file()
    assert json.loads((tmp_path / "failures.json").read_text()) == []
    for name in ("standalone_w1_s0", "md-gan_w2_s0"):
        evals = [r for r in read_jsonl(tmp_path / name / "metrics.jsonl") if r["type"] == "eval"]
        assert [r["step"] for r in evals] == [6, 12, 18, 24, 30]  # eval_every = steps / 5: curves exist
    kept, redone = tmp_path / "md-gan_w2_s0" / "summary.json", tmp_path / "standalone_w1_s0" / "summary.json"
    kept_mtime = kept.stat().st_mtime_ns
    redone.unlink()
    (tmp_path / "standalone_w1_s0" / "samples" / "step_999999.png").write_bytes(b"stale")
    compare(study)
    assert kept.stat().st_mtime_ns == kept_mtime
    assert redone.is_file()
    assert not (tmp_path / "standalone_w1_s0" / "samples" / "step_999999.png").exists()  # rerun from scratch


def _md_gan_cells_fail(monkeypatch, error: str) -> None:
    real_train = distgan.training.train

    def train(config):
        if config.method == "md-gan":
            raise DistganError(error)
        return real_train(config)

    monkeypatch.setattr(distgan.training, "train", train)


def test_a_failing_cell_is_recorded_and_the_study_goes_on(tmp_path, monkeypatch):
    _md_gan_cells_fail(monkeypatch, "rank 0 exited with code 1; its log above says why")
    study = Study(methods=["md-gan", "standalone"], workers=[2], dataset="ring8", steps=20, batch_size=16,
                  backend="sim", out=str(tmp_path), progress=False, seeds=1, jobs=1)  # in this process: patched
    html = compare(study).read_text()
    failures = json.loads((tmp_path / "failures.json").read_text())
    assert [(f["cell"], f["error"]) for f in failures] == [("md-gan_w2_s0", "rank 0 exited with code 1; its log "
                                                                            "above says why")]
    assert (tmp_path / "standalone_w1_s0" / "summary.json").is_file()
    assert "md-gan N=2 seed 0 (md-gan_w2_s0) failed: rank 0 exited with code 1" in html


def test_a_folder_that_is_not_a_run_is_not_deleted(tmp_path):
    (tmp_path / "standalone_w1_s0").mkdir()
    (tmp_path / "standalone_w1_s0" / "precious.txt").write_text("keep me")
    study = Study(methods=["standalone"], dataset="ring8", steps=10, backend="sim", out=str(tmp_path),
                  progress=False, seeds=1)
    with pytest.raises(DistganError, match="is not a distgan run folder"):
        compare(study)
    assert (tmp_path / "standalone_w1_s0" / "precious.txt").read_text() == "keep me"


def _ring_study(out, **changes) -> Study:
    return Study(**{"methods": ["standalone", "md-gan"], "workers": [2], "dataset": "ring8", "steps": 30,
                    "batch_size": 16, "backend": "sim", "out": str(out), "progress": False, "seeds": 1,
                    "overrides": {"standalone": {"checkpoint_every": 10}}, **changes})


def test_a_cell_stopped_part_way_resumes_from_its_checkpoint_and_ends_as_if_never_stopped(tmp_path):
    straight = tmp_path / "straight"
    compare(_ring_study(straight, methods=["standalone"], overrides={}))

    # a run of the same cell stopped at step 20: its checkpoint, and records it logged after it before the kill
    stopped = tmp_path / "study"
    cell = plan(_ring_study(stopped, methods=["standalone"]))[0]
    distgan.training.train(dataclasses.replace(cell.config, steps=20))
    folder = stopped / cell.name
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "steps": 30}))
    (folder / "summary.json").unlink()
    records = [r for r in read_jsonl(folder / "metrics.jsonl") if not (r["type"] == "eval" and r["step"] == 20)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records)  # no final evaluation
                                          + json.dumps({"type": "train", "step": 25}) + "\n" + '{"type": "tra')

    compare(_ring_study(stopped, methods=["standalone"]))
    steps = [r["step"] for r in read_jsonl(folder / "metrics.jsonl") if r["type"] == "train"]
    assert steps == sorted(set(steps)) and steps[-1] == 30  # the step-25 record and the cut line are gone
    evals = [r["step"] for r in read_jsonl(folder / "metrics.jsonl") if r["type"] == "eval"]
    assert evals == [6, 12, 18, 24, 30]
    want, got = final_state(straight / cell.name), final_state(folder)
    assert got["step"] == 30
    for name, tensor in want["G"].items():
        assert torch.equal(got["G"][name], tensor), f"G.{name} differs from the run that was never stopped"


def test_cells_runs_only_the_matching_part_and_parts_share_one_failures_file(tmp_path, monkeypatch):
    _md_gan_cells_fail(monkeypatch, "rank 0 exited with code 1")
    compare(_ring_study(tmp_path, cells=["standalone_*"]))
    assert (tmp_path / "standalone_w1_s0" / "summary.json").is_file()
    assert not (tmp_path / "md-gan_w2_s0").exists()

    html = compare(_ring_study(tmp_path, cells=["md-gan*"], jobs=1)).read_text()  # in this process: patched
    assert [f["cell"] for f in json.loads((tmp_path / "failures.json").read_text())] == ["md-gan_w2_s0"]
    assert "md-gan_w2_s0) failed" in html
    compare(_ring_study(tmp_path, cells=["standalone_*"]))  # a rerun of the other part keeps that failure
    assert [f["cell"] for f in json.loads((tmp_path / "failures.json").read_text())] == ["md-gan_w2_s0"]
    record = json.loads((tmp_path / "study.json").read_text())
    assert [c["folder"] for c in record["cells"]] == ["standalone_w1_s0", "md-gan_w2_s0"]  # the whole plan


def test_cells_side_by_side_give_the_numbers_of_cells_one_at_a_time(tmp_path):
    """--jobs 2 runs each cell in a process of its own; with the same threads the runs are the same."""
    one, two = tmp_path / "one", tmp_path / "two"
    compare(_ring_study(one, jobs=1, threads=1, seeds=2, overrides={}))
    compare(_ring_study(two, jobs=2, threads=1, seeds=2, overrides={}))
    for cell in ("standalone_w1_s0", "standalone_w1_s1", "md-gan_w2_s0", "md-gan_w2_s1"):
        a, b = (json.loads((root / cell / "summary.json").read_text()) for root in (one, two))
        assert a["final_eval"] == b["final_eval"] and a["bytes"] == b["bytes"], cell
    assert json.loads((two / "recommendation.json").read_text())["profiles"].keys() == {
        "datacenter", "lan", "wan", "edge"}


def test_cells_that_match_nothing_are_refused_with_the_names_to_use(tmp_path):
    with pytest.raises(DistganError, match="matches none of the study's 2 cells .such as standalone_w1_s0"):
        compare(_ring_study(tmp_path, cells=["fl-gan*"]))
    assert not tmp_path.joinpath("study.json").exists()
