"""Every run writes a TensorBoard event file that TensorBoard's own reader can read."""

from __future__ import annotations

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from distgan import train
from helpers import small_config


def test_event_file_has_losses_evaluations_bytes_and_samples(tmp_path):
    train(small_config(tmp_path, method="md-gan", workers=2, backend="sim", steps=20, eval_every=10, log_every=5,
                       sample_every=10))
    assert list(tmp_path.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert len(events.Scalars("train/loss_d")) >= 2
    fid = events.Scalars("eval/fid")
    assert [e.step for e in fid] == [10, 20]  # x-axis: generator updates
    assert len(events.Scalars("bytes_sent/md-gan/X_g")) >= 2
    assert events.Scalars("progress/real_images")[-1].value == 20 * 2 * 8  # N L b per iteration
    assert "samples" in tags["images"] and len(events.Images("samples")) >= 2


def test_no_tensorboard_writes_no_event_file(tmp_path):
    train(small_config(tmp_path, steps=4, tensorboard=False))
    assert (tmp_path / "summary.json").is_file()
    assert not list(tmp_path.glob("events.out.tfevents.*"))
