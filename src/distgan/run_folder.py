"""The names of the files in a run folder, in one place (docs/run-format.md describes each)."""

CONFIG = "config.json"  # the resolved config, enough to rerun
PARTITION = "partition.json"  # samples per worker and per class
METRICS = "metrics.jsonl"  # losses, bytes and evaluations over time
SAMPLES = "samples"  # step_NNNNNN.png
CHECKPOINT = "checkpoint.pt"  # rank 0's
SUMMARY = "summary.json"  # written last: a run is finished when it exists
TRACE = "trace.jsonl"  # every rank's messages and compute phases, step by step
CALIBRATION = "calibration.json"  # each role's compute timed alone, cached by `distgan project`
RESTARTS = "restarts.json"  # group restarts after a worker died
PIDS = "pids.json"  # the launcher's rank processes
LAUNCH_CONFIG = "launch_config.json"  # the config handed to the rank processes while they start


def rank_checkpoint(rank: int) -> str:
    """The checkpoint file of `rank`: rank 0 writes CHECKPOINT, the others their own."""
    return CHECKPOINT if rank == 0 else f"checkpoint_rank{rank}.pt"
