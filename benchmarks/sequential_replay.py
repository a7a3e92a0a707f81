"""What `distgan compare --until-decided` would have decided, replayed on cells that were already run.

    .venv/bin/python benchmarks/sequential_replay.py studies/default-s5-9 studies/default-s10-14 \
        --first-seed 5 --seeds 5 --name sequential_replay

distgan/sequential.py trains look 1 on `--seeds`, then gives SEEDS_PER_LOOK more seeds only to the methods of each
undecided profile's open contrasts, for at most MAX_LOOKS looks, each decided at alpha / MAX_LOOKS. This script
runs the same procedure, reading each look's cells from the given study folders (the default study's cells, the
same settings, seed by seed) instead of training them: the decisions are the report's own (build_report on a
folder of copies of the chosen cells), and the cost is the cells' own wall time. It says whether the lever
decides the profiles that a fixed 5 seeds leaves undecided, and at what cost. Writes benchmarks/results/NAME.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import common

from distgan.report import build_report
from distgan.sequential import MAX_LOOKS, SEEDS_PER_LOOK, _freeze, _open


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", help="study folders holding the cells, by folder name")
    parser.add_argument("--first-seed", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=5, help="look 1's seeds")
    parser.add_argument("--timing", help="compute_timing.json to use (default: the first source's)")
    parser.add_argument("--name", default="sequential_replay")
    args = parser.parse_args()
    common.setup_logging()
    cells = {p.name: p for src in args.sources for p in Path(src).iterdir() if (p / "summary.json").is_file()}
    first = Path(args.sources[0])
    study = json.loads((first / "study.json").read_text())
    labels = sorted({(c["label"], c["workers"]) for c in study["cells"]})
    name_of = {(c["label"], c["workers"]): c["folder"].rsplit("_s", 1)[0] for c in study["cells"]}
    chosen = {key: list(range(args.first_seed, args.first_seed + args.seeds)) for key in labels}
    work = Path(tempfile.mkdtemp(prefix="distgan-replay-"))
    looks, rows = [], []
    decided_at: dict = {}
    try:
        for look in range(1, MAX_LOOKS + 1):
            for child in work.iterdir():
                child.unlink() if child.is_symlink() or child.is_file() else shutil.rmtree(child)
            listed = []
            for key, seeds in chosen.items():
                for seed in seeds:
                    folder = f"{name_of[key]}_s{seed}"
                    if folder not in cells:
                        raise SystemExit(f"no cell {folder} in {args.sources}")
                    shutil.copytree(cells[folder], work / folder)  # the report reads no linked folder
                    listed.append({"folder": folder, "label": key[0], "method": key[0].split()[0],
                                   "workers": key[1], "seed": seed})
            record = {**study, "cells": listed, "looks": MAX_LOOKS, "stages": [], "decided_at": decided_at}
            (work / "study.json").write_text(json.dumps(record))
            timing = Path(args.timing) if args.timing else first / "compute_timing.json"
            if timing.is_file():
                shutil.copy(timing, work / "compute_timing.json")
            build_report(work)
            profiles = json.loads((work / "recommendation.json").read_text())["profiles"]
            seconds = sum(json.loads((cells[c["folder"]] / "summary.json").read_text()).get("wall_s", 0.0)
                          for c in listed)
            newly = _freeze(work, look, decided_at)
            decided = {p: (e["pick"] if e["decided"] else "") for p, e in profiles.items()}
            looks.append({"look": look, "cells": len(listed), "cell_seconds": round(seconds, 1),
                          "decided": decided, "regret_bounds": {p: e.get("regret_bound") for p, e in profiles.items()}})
            rows.append([look, len(listed), f"{seconds / 60:.1f}", *[_cell(p, profiles[p], decided_at, look)
                                                                     for p in profiles]])
            looks[-1]["newly_decided"] = newly
            open_cells = _open(work, set(decided_at))
            if not open_cells or look == MAX_LOOKS:
                break
            top = max(s for seeds in chosen.values() for s in seeds)
            for key in open_cells:
                chosen[key] = chosen[key] + list(range(top + 1, top + 1 + SEEDS_PER_LOOK))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    header = ["look", "cells", "cell minutes", *profiles]
    text = ("# --until-decided, replayed on committed cells (benchmarks/sequential_replay.py)\n\n"
            f"Sources: {', '.join(args.sources)}; "
            f"look 1: seeds {args.first_seed}-{args.first_seed + args.seeds - 1}; "
            f"each look decided at alpha / {MAX_LOOKS}; a profile keeps the pick of the look that decided it "
            "(bold), and later looks add seeds only for the profiles still open. Cell minutes: the sum of the "
            "cells' own wall time, as they ran (side by side, with other work).\n\n"
            + common.markdown_table(header, rows))
    common.write_results(args.name, {"sources": args.sources, "looks": looks, "machine": common.machine()}, text)
    print(text)


def _cell(profile: str, entry: dict, decided_at: dict, look: int) -> str:
    """The profile at this look: the pick it keeps (from the look that decided it), and what this look's seeds say."""
    now = (f"{entry['pick']} ({entry.get('regret_bound')})" if entry.get("decided")
           else f"undecided ({entry.get('regret_bound')})")
    kept = decided_at.get(profile)
    if kept is None:
        return now
    return f"**{kept['pick']}** (look {kept['look']})" + ("" if kept["look"] == look else f"; now {now}")


if __name__ == "__main__":
    main()
