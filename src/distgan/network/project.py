"""`project(path, network)`: a run's (or every run of a study's) wall time on another network, from its trace.

The trace is replayed on one link per rank (distgan.network.replay) with compute seconds from the calibration
(process runs: each role timed alone) or from the trace itself (simulated runs, whose ranks computed in turns).
Rank 0's evaluations, samples and logs ("record") are left out: the projection is the method's training time.
The share spent communicating is 1 - (the same replay on an ideal network) / (the projection).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distgan import run_folder
from distgan.errors import DistganError
from distgan.network.calibrate import SKIPPED, calibrate, phase_seconds, role
from distgan.network.profiles import IDEAL, Profile, parse_profile
from distgan.network.replay import Compute, Replay, replay
from distgan.safe_read import UnreadableFile, read_json, read_object
from distgan.transport.trace import read_trace

COMPUTE_SOURCES = ("auto", "trace", "calibrate")


def load_run_trace(run: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(config.json, summary.json, trace records) of a finished run, or a DistganError saying what is missing."""
    summary_path, trace_path = run / run_folder.SUMMARY, run / run_folder.TRACE
    summary = read_object(summary_path, missing=None)
    if summary is None:
        raise DistganError(f"{run}: no summary.json, so the run has not finished; project a finished run")
    if not trace_path.exists() and not trace_path.is_symlink():
        raise DistganError(f"{run}: no trace.jsonl (run before traces existed, or with --no-trace); train it again "
                           "to project it")
    config = read_object(run / run_folder.CONFIG)
    if not isinstance(config.get("method"), str):
        raise UnreadableFile(f"{run / run_folder.CONFIG}: no 'method' name in it; restore it from the run")
    return config, summary, read_trace(trace_path)


def compute_model(run: Path, config: dict[str, Any], records: list[dict[str, Any]], source: str
                  ) -> tuple[Compute, str]:
    """How long each traced compute item takes in the projection, and a line saying where that came from."""
    if source not in COMPUTE_SOURCES:
        raise DistganError(f"--compute must be one of {', '.join(COMPUTE_SOURCES)}, got {source!r}")
    from distgan.methods import method_spec

    has_server = method_spec(config["method"]).has_server
    simulated = config.get("backend") == "sim" or config.get("workers", 1) == 1 and not has_server
    if source == "trace" or (source == "auto" and simulated):
        why = "the trace (simulated ranks compute in turns)" if simulated else "the trace (as measured in the run)"
        return (lambda record, label, s: 0.0 if label in SKIPPED else s), why
    calibrated = calibrate(run)["seconds_per_update"]
    traced = phase_seconds(records, has_server)
    ratio: dict[tuple[str, str], float] = {}
    for who, phases in traced.items():  # each phase scaled by calibrated / traced; "*" is the role's whole step
        mine = calibrated.get(who, {})
        for label, seconds in phases.items():
            if label in mine and seconds > 0:
                ratio[who, label] = mine[label] / seconds

    def compute(record: dict[str, Any], label: str, seconds: float) -> float:
        if label in SKIPPED:
            return 0.0
        who = role(int(record["rank"]), has_server)
        return seconds * ratio.get((who, label), ratio.get((who, "*"), 1.0))

    return compute, "calibration (each role's phases timed alone, one rank at a time)"


def projector(run: str | Path, compute: str = "auto", compute_scale: float = 1.0
              ) -> tuple[Callable[[Profile], Replay], str]:
    """A function that replays this run's trace on a profile (the trace read and the compute calibrated once),
    and where its compute seconds come from; `compute_scale` multiplies every compute item (the report's
    correction to compute timed apart from the study's cells, distgan/compute_timing.py)."""
    run = Path(run)
    config, _, records = load_run_trace(run)
    if not records:
        raise DistganError(f"{run}: trace.jsonl is empty; train the run again to project it")
    model, source = compute_model(run, config, records, compute)
    if compute_scale != 1.0:
        unscaled = model
        model = lambda record, label, seconds: unscaled(record, label, seconds) * compute_scale  # noqa: E731
        source += f", scaled by {compute_scale:.3f} to compute timed apart"
    world = max(int(r["rank"]) for r in records) + 1
    return (lambda profile: replay(records, profile.links(world), model)), source


def project_run(run: str | Path, network: str | Profile, compute: str = "auto") -> tuple[dict[str, Any], Replay]:
    """One run's projection as a JSON-ready dict, and the replay behind it (its per-step times)."""
    run = Path(run)
    profile = parse_profile(network) if isinstance(network, str) else network
    config, summary, _ = load_run_trace(run)
    on, source = projector(run, compute)
    shaped, ideal = on(profile), on(IDEAL)
    (rank, direction), busiest = max(shaped.link_bytes.items(), key=lambda kv: kv[1], default=((0, "up"), 0))
    bandwidth = profile.link.up_bps if direction == "up" else profile.link.down_bps
    wall = shaped.wall_s
    result = {
        "run": str(run), "method": config.get("method"), "workers": config.get("workers"),
        "network": profile.describe(), "projected_wall_s": round(wall, 4),
        "compute_only_s": round(ideal.wall_s, 4),
        "comm_share": round(max(0.0, 1 - ideal.wall_s / wall), 4) if wall > 0 else 0.0,
        "busiest_link": {"rank": rank, "direction": direction, "bytes": busiest,
                         "seconds_at_bandwidth": round(8 * busiest / bandwidth, 4)},
        "measured_wall_s": summary.get("wall_s"), "measured_backend": config.get("backend"),
        "traced_steps": max((int(s) for s in shaped.step_end_s), default=0), "steps": summary.get("steps"),
        "compute_from": source,
    }
    if shaped.unmatched:
        result["unmatched"] = shaped.unmatched
    return result, shaped


def run_folders(path: Path) -> list[Path]:
    """`path` itself if it is a run folder, else every run folder under it (a study's cells)."""
    if (path / run_folder.CONFIG).is_file():
        return [path]
    folders = sorted(p.parent for p in path.rglob(run_folder.CONFIG))
    if not folders:
        raise DistganError(f"{path} holds no run folders (none has config.json); give a run or a study folder")
    return folders


def project(path: str | Path, network: str, compute: str = "auto") -> dict[str, Any]:
    """A run's projection, or for a study every finished run's and each (label, workers) cell's mean."""
    path = Path(path)
    if not path.exists():
        raise DistganError(f"{path}: no such run or study folder")
    profile = parse_profile(network)
    folders = run_folders(path)
    if folders == [path]:
        return project_run(path, profile, compute)[0]
    runs, skipped = [], []
    labels = _labels(path)
    for folder in folders:
        try:
            result = project_run(folder, profile, compute)[0]
        except UnreadableFile:  # a damaged file is named, not skipped
            raise
        except DistganError as e:
            skipped.append(str(e))
            continue
        result["label"] = labels.get(folder.name, result["method"])
        runs.append(result)
    if not runs:
        raise DistganError(f"no run under {path} could be projected (first: {skipped[0]})")
    return {"network": profile.describe(), "runs": runs, "methods": _per_method(runs), "skipped": skipped}


def _labels(study: Path) -> dict[str, str]:
    record = read_json(study / "study.json", missing={})
    cells = record.get("cells") if isinstance(record, dict) else None
    return {c["folder"]: c["label"] for c in cells if isinstance(c, dict) and isinstance(c.get("folder"), str)
            and isinstance(c.get("label"), str)} if isinstance(cells, list) else {}


def _per_method(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["label"], r["workers"]), []).append(r)
    return [{"label": label, "workers": workers, "runs": len(rs),
             "projected_wall_s": round(statistics.fmean(r["projected_wall_s"] for r in rs), 4),
             "comm_share": round(statistics.fmean(r["comm_share"] for r in rs), 4),
             "measured_wall_s": round(statistics.fmean(r["measured_wall_s"] or 0 for r in rs), 3)}
            for (label, workers), rs in groups.items()]


def render(result: dict[str, Any]) -> str:
    """The projection as text lines, for the terminal."""
    lines = [f"network: {result['network']}"]
    rows = result.get("methods") or [result]
    for r in rows:
        name = f"{r.get('label', r.get('method'))} x{r['workers']}"
        lines.append(f"{name}: projected {r['projected_wall_s']:.1f} s, {r['comm_share']:.0%} communicating "
                     f"(measured here: {r['measured_wall_s']} s)")
    if "runs" not in result:
        b = result["busiest_link"]
        lines.append(f"busiest link: rank {b['rank']} {b['direction']}, {b['bytes']:,} bytes = "
                     f"{b['seconds_at_bandwidth']:.2f} s at its bandwidth; compute from {result['compute_from']}")
    for s in result.get("skipped", []):
        lines.append(f"skipped: {s}")
    return "\n".join(lines)
