import subprocess
import sys

import pytest

from distgan.cli import main
from helpers import read_summary, refused, run_cli


@pytest.mark.parametrize("argv, needle", [
    (["train", "--steps", "-1"], "--steps must be a positive integer"),
    (["train", "--method", "md-gan", "--workers", "0"], "--workers must be a positive integer"),
    (["train", "--method", "gossip"], "unknown --method 'gossip'"),
    (["train", "--dataset", "imagenet"], "imagenet"),
    (["train", "--dataset", "mnist:/no/such/dir"], "/no/such/dir"),
    (["train", "--steps", "ten"], "invalid int value: 'ten'"),
    (["train", "--config", "/no/such.toml"], "/no/such.toml"),
    (["train", "--resume", "/no/such/run"], "/no/such/run"),
    (["train", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["train", "--method", "fl-gan", "--workers", "2", "--k", "2"], "--k does not apply to --method fl-gan"),
    (["train", "--method", "md-gan", "--workers", "2", "--partition", "dirichlet:-1"], "ALPHA must be a number > 0"),
    (["train", "--method", "md-gan", "--workers", "5000", "--dataset", "digits"], "exceeds the 1438 training samples"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, needle):
    assert needle in refused(capsys, *argv, "--out", str(tmp_path / "run"))


def test_bad_toml_config_is_refused(capsys, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text("steps = 'lots'\n")
    code, err = run_cli(capsys, "train", "--config", str(cfg))
    assert code == 2 and "'steps' must be a int" in err


def test_real_process_exits_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "distgan", "train", "--batch-size", "0", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "distgan: error: --batch-size must be a positive integer, got 0"


def test_help_teaches_the_methods(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("md-gan", "--swap-every", "--partition", "torchrun", "--resume"):
        assert word in out


def test_a_bad_partition_is_refused_before_any_rank_starts(capsys, tmp_path):
    refused(capsys, "train", "--method", "md-gan", "--workers", "2", "--dataset", "digits", "--partition",
            "shards:x", "--out", str(tmp_path))
    assert not (tmp_path / "pids.json").exists()  # the launcher never ran


def test_config_json_holds_every_resolved_value(capsys, tmp_path):
    code, _ = run_cli(capsys, "train", "--method", "md-gan", "--workers", "2", "--dataset", "ring8", "--steps", "2",
                      "--backend", "sim", "--no-progress", "--out", str(tmp_path))
    assert code == 0 and read_summary(tmp_path)["steps"] == 2
    import json

    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["is_resolved"] and saved["batch_size"] == 256 and saved["lr_g"] == 1e-3 and saved["z_dim"] == 8
    assert saved["eval_samples"] == 2500  # 2-D points: the VEEGAN/PacGAN protocol
    assert saved["options"] == {"k": "1", "disc_steps": 1, "swap_every": 1.0, "swap_adam": "carry",
                                "round_deadline": 0.0, "min_workers": 1, "md_generation": "per-batch"}


def test_methods_lists_every_method_with_its_traits(capsys):
    from distgan.methods import REGISTRY

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for spec in REGISTRY.values():
        assert f"{spec.name}: {spec.summary}" in out
    assert "when a worker dies: restart" in out and "--kl-weighting" in out


def test_processes_beyond_the_gpus_share_them_and_a_cap_is_refused(capsys, tmp_path, monkeypatch):
    """NCCL refuses two ranks on one GPU (seen on an H200), so with fewer GPUs than processes they share GPUs over
    gloo, through host memory; --ranks-per-gpu caps the sharing, refused up front in one line."""
    import torch

    from distgan.gpus import place

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    shared = [place("cuda", 3, local_rank=r) for r in range(3)]
    assert [str(p.device) for p in shared] == ["cuda:0", "cuda:1", "cuda:0"]
    assert all(p.stage_through_host and p.ranks_per_gpu == 2 for p in shared)
    alone = place("auto", 2, local_rank=1)
    assert str(alone.device) == "cuda:1" and not alone.stage_through_host and alone.ranks_per_gpu == 1
    assert place("cpu", 3).device.type == "cpu"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    line = refused(capsys, "train", "--method", "md-gan", "--workers", "2", "--dataset", "digits", "--device", "cuda",
                   "--ranks-per-gpu", "2", "--out", str(tmp_path))
    assert "3 processes on 1 GPU(s) put 3 on one GPU, over --ranks-per-gpu 2" in line
    assert not (tmp_path / "pids.json").exists()


def test_processes_that_cannot_fit_on_a_gpu_are_refused_up_front(capsys, tmp_path, monkeypatch):
    import types

    import torch

    from distgan.gpus import CUDA_CONTEXT_BYTES, GiB, check_fits

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: types.SimpleNamespace(total_memory=GiB))
    line = refused(capsys, "train", "--method", "md-gan", "--workers", "2", "--dataset", "digits", "--device", "cuda",
                   "--out", str(tmp_path))
    # 3 processes, each at least a CUDA context (600 MiB), over the 0.9 GiB usable of a 1 GiB GPU; 1 fits
    assert "3 processes on one GPU need about" in line and "of 1.0 GiB; 1 fit" in line
    assert not (tmp_path / "pids.json").exists()
    check_fits(CUDA_CONTEXT_BYTES, 16, 80 * GiB)  # FeGAN's 16 processes on an 80 GiB GPU: no refusal
