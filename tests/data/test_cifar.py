"""cifar10:PATH: batches load via the restricted unpickler; malicious and malformed pickles are refused."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from data_samples import cifar_batch, py2_cifar_pickle, write_cifar_batch

from distgan.data.registry import load_dataset
from distgan.errors import DistganError


@pytest.mark.parametrize("protocol", [3, 4])
def test_train_and_test_batches_load(tmp_path: Path, protocol: int) -> None:
    first = write_cifar_batch(tmp_path / "data_batch_1", 6, seed=1, protocol=protocol)
    write_cifar_batch(tmp_path / "data_batch_2", 4, seed=2, protocol=protocol)
    write_cifar_batch(tmp_path / "test_batch", 5, seed=3, protocol=protocol)
    data = load_dataset(f"cifar10:{tmp_path}")
    assert data.name == "cifar10" and data.num_classes == 10
    assert data.train_x.shape == (10, 3, 32, 32) and data.test_x.shape == (5, 3, 32, 32)
    assert data.train_x.min() >= -1 and data.train_x.max() <= 1
    # rows are 1024 red, then green, then blue values of a 32x32 image
    expected = first[b"data"][0].reshape(3, 32, 32).astype(np.float32) / 127.5 - 1
    assert torch.equal(data.train_x[0], torch.from_numpy(expected))
    assert data.train_y.tolist() == first[b"labels"] + list(range(4))


def test_python2_style_pickle_loads(tmp_path: Path) -> None:
    batch = cifar_batch(4)
    for name in ("data_batch_1", "test_batch"):
        (tmp_path / name).write_bytes(py2_cifar_pickle(batch[b"data"], batch[b"labels"]))
    data = load_dataset(f"cifar10:{tmp_path}")
    assert data.test_y.tolist() == batch[b"labels"]
    assert torch.equal(((data.test_x + 1) * 127.5).round().byte().reshape(4, -1), torch.from_numpy(batch[b"data"]))


def test_str_keys_and_label_arrays_are_accepted(tmp_path: Path) -> None:
    batch = cifar_batch(10, bytes_keys=False)
    batch["labels"] = np.array(batch["labels"], dtype=np.int64)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=4))
    data = load_dataset(f"cifar10:{tmp_path}")
    assert (len(data.train_x), len(data.test_x)) == (8, 2)  # no test_batch: split 80/20


def test_extracted_tarball_folder_is_found(tmp_path: Path) -> None:
    inner = tmp_path / "cifar-10-batches-py"
    inner.mkdir()
    write_cifar_batch(inner / "test_batch", 10)
    assert len(load_dataset(f"cifar10:{tmp_path}").train_x) == 8


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


class _EvalExploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return eval, (f"open({str(self.marker)!r}, 'w')",)


@pytest.mark.parametrize("exploit", [_Exploit, _EvalExploit])
@pytest.mark.parametrize("where", ["top", "inside"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path, exploit: type, where: str) -> None:
    marker = tmp_path / "pwned"
    payload = exploit(marker) if where == "top" else {b"data": exploit(marker), b"labels": [0]}
    batch = tmp_path / "data_batch_1"
    batch.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DistganError, match="refused to load") as err:
        load_dataset(f"cifar10:{tmp_path}")
    assert "data_batch_1" in str(err.value)
    assert not marker.exists()


def test_object_dtype_arrays_are_refused(tmp_path: Path) -> None:
    batch = {b"data": np.array([[1, 2]], dtype=object), b"labels": [0]}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(DistganError, match="test_batch"):
        load_dataset(f"cifar10:{tmp_path}")


def _refused(tmp_path: Path, payload: bytes, fragment: str) -> None:
    (tmp_path / "data_batch_1").write_bytes(payload)
    with pytest.raises(DistganError, match=fragment) as err:
        load_dataset(f"cifar10:{tmp_path}")
    assert "data_batch_1" in str(err.value) and "\n" not in str(err.value)


def test_truncated_batch(tmp_path: Path) -> None:
    _refused(tmp_path, pickle.dumps(cifar_batch(3), protocol=4)[:-100], "not a readable CIFAR-10 batch")


def test_not_a_pickle(tmp_path: Path) -> None:
    _refused(tmp_path, b"hello, I am text", "not a readable CIFAR-10 batch")


def test_wrong_image_size(tmp_path: Path) -> None:
    batch = {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}
    _refused(tmp_path, pickle.dumps(batch, protocol=4), r"expected uint8 \(N, 3072\)")


def test_label_count_disagrees(tmp_path: Path) -> None:
    batch = cifar_batch(3)
    batch[b"labels"] = [0, 1]
    _refused(tmp_path, pickle.dumps(batch, protocol=4), "3 images but 2 labels")


def test_labels_out_of_range(tmp_path: Path) -> None:
    batch = cifar_batch(2)
    batch[b"labels"] = [0, 11]
    _refused(tmp_path, pickle.dumps(batch, protocol=4), "labels must be 0..9")


def test_not_a_dict(tmp_path: Path) -> None:
    _refused(tmp_path, pickle.dumps([1, 2, 3], protocol=4), "expected a dict")


def test_missing_key(tmp_path: Path) -> None:
    _refused(tmp_path, pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}, protocol=4), "no 'labels' entry")


def test_array_bytes_disagree_with_shape(tmp_path: Path) -> None:
    good = py2_cifar_pickle(np.zeros((2, 3072), np.uint8), [0, 1])
    doctored = good.replace(b"J\x02\x00\x00\x00", b"J\x03\x00\x00\x00", 1)  # shape (3, 3072), bytes for 2
    _refused(tmp_path, doctored, "does not match")


class _Dtype:
    """Pickles as numpy.dtype(*args), with an optional state, without building a real dtype."""

    def __init__(self, *args: object, state: object = None) -> None:
        self.args, self.state = args, state

    def __reduce__(self) -> tuple:
        return (np.dtype, self.args) if self.state is None else (np.dtype, self.args, self.state)


class _Array:
    """Pickles like a numpy array, but with whatever dtype and shape the test asks for."""

    def __init__(self, dtype: object, shape: tuple = (1, 3072), data: bytes = bytes(3072)) -> None:
        self.dtype, self.shape, self.data = dtype, shape, data

    def __reduce__(self) -> tuple:
        from numpy._core.multiarray import _reconstruct

        return _reconstruct, (np.ndarray, (0,), b"b"), (1, self.shape, self.dtype, False, self.data)


@pytest.mark.parametrize(
    "array",
    [
        _Array(_Dtype([])),
        _Array(_Dtype("O", False, True)),
        _Array(_Dtype("V8", False, True)),
        _Array(_Dtype("u1", False, True, state=(3, "?", None))),
        _Array(_Dtype("u1", False, True), shape=(10**12, 3072)),
        _Array(_Dtype("u1", False, True), shape=(1, -3072)),
        _Array(_Dtype("u1", False, True), data="text"),
        _Array(7),
    ],
)
def test_crafted_arrays_are_refused_without_building_them(tmp_path: Path, array: _Array) -> None:
    _refused(tmp_path, pickle.dumps({b"data": array, b"labels": [0]}, protocol=4), "array")
