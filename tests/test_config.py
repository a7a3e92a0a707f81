import pytest

from distgan.config import RunConfig, config_from_mapping
from distgan.errors import DistganError


@pytest.mark.parametrize("overrides, message", [
    ({"steps": -1}, "--steps must be a positive integer"),
    ({"batch_size": 0}, "--batch-size must be a positive integer"),
    ({"method": "gossip"}, "unknown --method 'gossip'"),
    ({"method": "md-gan", "workers": 0}, "--workers must be a positive integer"),
    ({"method": "md-gan", "workers": 2, "k": "3"}, "--k 3 exceeds the 2 workers"),
    ({"method": "md-gan", "workers": 2, "k": "many"}, "--k must be a positive integer"),
    ({"method": "md-gan", "workers": 2, "swap_every": 0}, "--swap-every must be > 0"),
    ({"loss": "wasserstein"}, "unknown --loss 'wasserstein'"),
    ({"method": "standalone", "workers": 4}, "--method standalone runs one process"),
    ({"method": "fl-gan", "workers": 2, "client_fraction": 1.5}, "--client-fraction must be in (0, 1]"),
    ({"method": "md-gan", "workers": 2, "fail": ["0@3"]}, "--fail rank 0 is not a worker rank"),
    ({"method": "md-gan", "workers": 2, "fail": ["x"]}, "--fail expects RANK@STEP"),
    ({"master_addr": "0.0.0.0"}, "DISTGAN_BIND_ALL=1"),
    ({"method": "fl-gan", "workers": 2, "k": "2"}, "--k does not apply to --method fl-gan (it is a setting of md-gan)"),
    ({"method": "sync-dp", "workers": 2, "lr_scaling": "sqrt"}, "unknown --lr-scaling 'sqrt'"),
    ({"method": "md-gan", "workers": 2, "swap_adam": "keep"}, "unknown --swap-adam 'keep'"),
    ({"method": "md-gan", "workers": 2, "md_generation": "one"}, "unknown --md-generation 'one'"),
])
def test_bad_values_name_the_flag(overrides, message):
    with pytest.raises(DistganError) as err:
        RunConfig.of(**overrides).validate()
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_world_size_adds_a_server_only_for_server_methods():
    assert RunConfig.of(method="sync-dp", workers=4).world_size == 4
    assert RunConfig.of(method="md-gan", workers=4).world_size == 5
    assert RunConfig.of(method="standalone").world_size == 1


@pytest.mark.parametrize("k, expected", [("1", 1), ("log", 3), ("n", 7), ("3", 3)])
def test_k_resolves_like_the_paper(k, expected):
    """k = ceil(log N) with log to base 2, the paper's convention (its section II): ceil(log2 7) = 3."""
    assert RunConfig.of(method="md-gan", workers=7, k=k).method_options().resolved_k(7) == expected


def test_mapping_refuses_unknown_keys_and_wrong_types():
    with pytest.raises(DistganError, match="unknown setting 'stepz'"):
        config_from_mapping({"stepz": 3}, "f.toml")
    with pytest.raises(DistganError, match="'steps' must be a int"):
        config_from_mapping({"steps": "many"}, "f.toml")
    assert config_from_mapping({"batch-size": 32}, "f.toml").batch_size == 32


@pytest.mark.parametrize("dataset, lr", [("ring8", 1e-3), ("digits", 4e-4), ("mnist5k", 8e-4)])
def test_learning_rates_resolve_by_data_and_flags_win(dataset, lr):
    from distgan.data.registry import load_dataset

    data = load_dataset(dataset)
    resolved = RunConfig(dataset=dataset).validate().resolved(data)
    assert (resolved.lr_g, resolved.lr_d) == (lr, lr)
    assert RunConfig(dataset=dataset, lr_d=3e-4).validate().resolved(data).lr_d == 3e-4


def test_the_dcgan_learning_rate_and_depth_were_measured_at_28x28_only():
    from distgan.recipe import default_g_depth, default_lr

    assert default_lr((1, 28, 28)) == 8e-4  # mnist5k, 3 paired seeds (docs/recipe.md)
    assert default_lr((3, 32, 32)) == 2e-4  # CIFAR-10: not measured, so the DCGAN paper's rate
    assert default_g_depth((1, 28, 28)) == 2  # mnist5k, 3 paired seeds
    assert default_g_depth((3, 32, 32)) == 0  # not measured: the DCGAN paper's G


def test_a_saved_config_from_before_an_option_existed_means_the_old_behaviour(tmp_path):
    """md-gan runs saved before --md-generation generated in one pass: resumed, they go on that way."""
    import json

    from distgan.config import RunConfig, load_config_json

    saved = RunConfig.of(method="md-gan", workers=2, dataset="digits").to_dict()
    saved["options"].pop("md_generation", None)
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert load_config_json(tmp_path / "config.json").options["md_generation"] == "joint"
    saved["options"]["md_generation"] = "per-batch"
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert load_config_json(tmp_path / "config.json").options["md_generation"] == "per-batch"


@pytest.mark.parametrize("value", ["0", "false", "no", ""])
def test_bind_all_means_yes_only_when_it_says_so(monkeypatch, value):
    from distgan.config import RunConfig

    monkeypatch.setenv("DISTGAN_BIND_ALL", value)
    with pytest.raises(DistganError, match="set DISTGAN_BIND_ALL=1"):
        RunConfig.of(method="md-gan", workers=2, master_addr="10.0.0.5").validate()
    monkeypatch.setenv("DISTGAN_BIND_ALL", "1")
    assert RunConfig.of(method="md-gan", workers=2, master_addr="10.0.0.5").validate().master_addr == "10.0.0.5"
