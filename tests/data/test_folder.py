"""folder:PATH: PNG/JPEG images, class subfolders as labels, 32x32 output, and malformed folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from data_samples import write_image

from distgan.data.registry import load_dataset
from distgan.errors import DistganError


def _class_folders(root: Path, mode: str, per_class: int = 5, suffix: str = ".png") -> None:
    for c, name in enumerate(["zebra", "ant", "moth"]):
        (root / name).mkdir()
        for i in range(per_class):
            write_image(root / name / f"{i}{suffix}", mode, seed=10 * c + i)


def test_gray_class_folders_give_one_channel_and_sorted_labels(tmp_path: Path) -> None:
    _class_folders(tmp_path, "L")
    data = load_dataset(f"folder:{tmp_path}")
    assert data.kind == "image" and data.num_classes == 3 and data.labelled
    assert data.train_x.shape == (12, 1, 32, 32) and data.test_x.shape == (3, 1, 32, 32)
    assert data.test_y.sort().values.tolist() == [0, 1, 2]  # stratified: one per class
    assert data.train_x.min() >= -1 and data.train_x.max() <= 1 and data.train_x.std() > 0.1


def test_any_colour_image_makes_three_channels(tmp_path: Path) -> None:
    _class_folders(tmp_path, "L", suffix=".jpg")
    write_image(tmp_path / "ant" / "colour.jpeg", "RGB")
    data = load_dataset(f"folder:{tmp_path}")
    assert data.sample_shape == (3, 32, 32) and len(data.train_x) + len(data.test_x) == 16


def test_loose_images_are_unlabelled(tmp_path: Path) -> None:
    for i in range(10):
        write_image(tmp_path / f"img{i}.PNG", "RGB", size=(64 + i, 40), seed=i)
    data = load_dataset(f"folder:{tmp_path}")
    assert data.train_y is None and data.test_y is None and data.num_classes is None
    assert data.train_x.shape == (8, 3, 32, 32) and data.test_x.shape == (2, 3, 32, 32)
    assert torch.equal(data.test_x, load_dataset(f"folder:{tmp_path}").test_x)


def test_hidden_files_are_ignored(tmp_path: Path) -> None:
    _class_folders(tmp_path, "RGB", per_class=2)
    (tmp_path / ".DS_Store").write_bytes(b"\0\1")
    (tmp_path / "ant" / ".thumbs").write_bytes(b"\0\1")
    assert load_dataset(f"folder:{tmp_path}").num_classes == 3


def _refused(root: Path, bad: Path, fragment: str) -> None:
    with pytest.raises(DistganError, match=fragment) as err:
        load_dataset(f"folder:{root}")
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_non_image_file_is_named(tmp_path: Path) -> None:
    _class_folders(tmp_path, "L", per_class=2)
    (tmp_path / "moth" / "notes.txt").write_text("hello")
    _refused(tmp_path, tmp_path / "moth" / "notes.txt", "not a PNG/JPEG image")


def test_garbage_named_png_is_named(tmp_path: Path) -> None:
    _class_folders(tmp_path, "L", per_class=2)
    (tmp_path / "ant" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    _refused(tmp_path, tmp_path / "ant" / "broken.png", "not a readable PNG/JPEG image")


def test_truncated_jpeg_is_named(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", "RGB", size=(64, 64))
    write_image(tmp_path / "b.jpg", "RGB", size=(64, 64))
    bad = tmp_path / "b.jpg"
    bad.write_bytes(bad.read_bytes()[:200])
    _refused(tmp_path, bad, "not a readable PNG/JPEG image")


def test_other_formats_are_refused_even_with_an_image_name(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", "RGB")
    write_image(tmp_path / "b.gif", "L")
    (tmp_path / "b.gif").rename(tmp_path / "b.png")
    _refused(tmp_path, tmp_path / "b.png", "not a readable PNG/JPEG image")


def test_empty_folder(tmp_path: Path) -> None:
    _refused(tmp_path, tmp_path, "folder is empty")


def test_empty_class_folder(tmp_path: Path) -> None:
    _class_folders(tmp_path, "L", per_class=2)
    (tmp_path / "yak").mkdir()
    _refused(tmp_path, tmp_path / "yak", "class folder is empty")


def test_file_beside_class_folders(tmp_path: Path) -> None:
    _class_folders(tmp_path, "L", per_class=2)
    write_image(tmp_path / "stray.png", "L")
    _refused(tmp_path, tmp_path / "stray.png", "beside class subfolders")


def test_nested_folder(tmp_path: Path) -> None:
    _class_folders(tmp_path, "L", per_class=2)
    (tmp_path / "ant" / "deeper").mkdir()
    _refused(tmp_path, tmp_path / "ant" / "deeper", "nested folder")


def test_single_image_cannot_be_split(tmp_path: Path) -> None:
    write_image(tmp_path / "only.png", "L")
    with pytest.raises(DistganError, match="at least 2"):
        load_dataset(f"folder:{tmp_path}")
