"""Spec parsing: unknown and incomplete specs give one clear DistganError."""

from __future__ import annotations

import pytest

from distgan.data.registry import known_specs, load_dataset
from distgan.errors import DistganError


@pytest.mark.parametrize("spec", ["cifar100", "mnist5", "", "ring8:x", "imagenet:/data"])
def test_unknown_spec_lists_the_known_ones(spec: str) -> None:
    with pytest.raises(DistganError, match="unknown dataset spec") as err:
        load_dataset(spec)
    assert f"'{spec}'" in str(err.value)
    assert all(known in str(err.value) for known in known_specs())


def test_local_format_without_a_path_says_it_needs_one() -> None:
    with pytest.raises(DistganError, match="mnist:PATH"):
        load_dataset("mnist")


@pytest.mark.parametrize("prefix", ["mnist", "fashion-mnist", "cifar10", "folder"])
def test_empty_path_is_refused(prefix: str) -> None:
    with pytest.raises(DistganError, match="needs a folder"):
        load_dataset(f"{prefix}:")


@pytest.mark.parametrize("prefix", ["mnist", "fashion-mnist", "cifar10", "folder"])
def test_missing_path_names_it(prefix: str, tmp_path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DistganError, match="no such folder") as err:
        load_dataset(f"{prefix}:{missing}")
    assert str(missing) in str(err.value)


@pytest.mark.parametrize("prefix", ["mnist", "cifar10", "folder"])
def test_a_file_instead_of_a_folder_is_refused(prefix: str, tmp_path) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(b"x")
    with pytest.raises(DistganError, match="not a folder") as err:
        load_dataset(f"{prefix}:{path}")
    assert str(path) in str(err.value)


@pytest.mark.parametrize("prefix", ["mnist", "fashion-mnist", "cifar10", "folder"])
def test_empty_folder_is_refused(prefix: str, tmp_path) -> None:
    with pytest.raises(DistganError) as err:
        load_dataset(f"{prefix}:{tmp_path}")
    assert str(tmp_path) in str(err.value)
