"""The MD-GAN paper's claims get one answer each, from a real (tiny) md-gan against fl-gan study."""

from __future__ import annotations

import dataclasses
import json

import pytest

from distgan.compare import Study, compare
from distgan.methods.common import float_state
from distgan.models import build_models
from distgan.report.aggregate import group_runs
from distgan.report.claims import crossover_batch_size, paper_claims
from distgan.report.costs import worker_compute_s
from distgan.report.load import load_runs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("claims")
    compare(Study(methods=["md-gan", "fl-gan"], workers=[2], dataset="digits", steps=6, seeds=2, backend="sim",
                  batch_size=8, out=str(out), progress=False,
                  overrides={"fl-gan": {"local_steps": 3, "eval_samples": 100},
                             "md-gan": {"eval_samples": 100}}))
    return out


def test_each_claim_has_a_line_with_the_paired_seeds(study_dir):
    lines, note = paper_claims(group_runs(load_runs(study_dir)), points=False)
    assert "Holm" in note or "no correction" in note
    assert [line.split(".")[0] for line in lines] == [
        "Claim: MD-GAN beats FL-GAN in quality", "Claim: MD-GAN halves per-worker compute",
        "Claim: MD-GAN sends fewer bytes than FL-GAN below a crossover batch size"]
    assert "md-gan N=2" in lines[0] and "fl-gan N=2" in lines[0] and "2 paired seeds" in lines[0]
    assert "md-gan / fl-gan: " in lines[1] and "(the paper claims 0.5)" in lines[1]  # from trace.jsonl
    assert "b = 8 is below it" in lines[2]
    assert (study_dir / "report.md").read_text().count("Claim: ") == 3


def test_the_crossover_is_the_papers_formula_on_measured_bytes(study_dir):
    runs = {(r.method, r.seed): r for r in load_runs(study_dir)}
    G, D = build_models((1, 8, 8), g_depth=runs["fl-gan", 0].config["g_depth"])
    w_and_theta = sum(t.numel() for t in float_state(G) + float_state(D))
    d = 64
    # md-gan's worker receives X_g and X_d, 2 b d floats an iteration; fl-gan's receives w and theta a round
    assert crossover_batch_size(runs["md-gan", 0], runs["fl-gan", 0]) == pytest.approx(w_and_theta / (2 * d))


def test_worker_compute_is_per_update_the_trace_covers(study_dir, tmp_path):
    """A killed run writes no trace; resumed, it traces only its own part: the compute per update is the same."""
    run = next(r for r in load_runs(study_dir) if r.method == "md-gan")

    def traced(name: str, steps: range) -> float:
        folder = tmp_path / name
        folder.mkdir()
        records = [{"rank": rank, "step": step, "updates": 1, "t0": 0.0,
                    "ops": [["c", "worker D steps", 0.01]] if rank else [["c", "record", 0.5]]}
                   for step in steps for rank in (0, 1, 2)]
        (folder / "trace.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        return worker_compute_s(dataclasses.replace(run, path=folder))

    assert run.summary["g_updates"] == 6
    assert traced("whole", range(1, 7)) == pytest.approx(0.01)
    assert traced("resumed", range(3, 7)) == pytest.approx(0.01)  # 4 traced updates of the run's 6


def test_a_claims_verdict_points_the_right_way_and_is_corrected_with_the_others(tmp_path):
    """md-gan 5 lower than fl-gan on every seed within 0.5 (p = 0.0033 alone, t = -17.3): a family of two
    quality lines (N = 2 and N = 4, no traces) under Holm; the N = 4 pair goes the other way."""
    from fake_runs import write_run

    def fid(value: float) -> dict:
        return {"fid": value, "kid": 1.0, "score": 2.0, "classes_covered": 5, "num_classes": 10}

    for seed, (md, fl) in enumerate([(50, 55), (70, 75.5), (90, 94.5)]):
        write_run(tmp_path, f"md-gan_w2_s{seed}", method="md-gan", seed=seed, final=fid(md))
        write_run(tmp_path, f"fl-gan_w2_s{seed}", method="fl-gan", seed=seed, final=fid(fl))
        write_run(tmp_path, f"md-gan_w4_s{seed}", method="md-gan", workers=4, seed=seed, final=fid(fl))
        write_run(tmp_path, f"fl-gan_w4_s{seed}", method="fl-gan", workers=4, seed=seed, final=fid(md))
    lines, note = paper_claims(group_runs(load_runs(tmp_path)), points=False)
    assert "a family of 2 tested comparisons, corrected with Holm's step-down method" in note
    # equal p: Holm tests the first at 1 - 0.05/2 (t_{0.9875, 2} = 6.205, half-width 1.79), the second at 95%
    assert lines[0].startswith("Claim: MD-GAN beats FL-GAN in quality. md-gan N=2 reaches lower FID than "
                               "fl-gan N=2: difference -5, 97.5% CI [-6.79, -3.21]")
    assert "md-gan N=4 reaches higher FID than fl-gan N=4: difference 5, 95% CI [3.76, 6.24]" in lines[1]
