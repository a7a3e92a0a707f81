"""Draw the top of a study's report (its title and `## Which method to pick` table) as a PNG, for the README.

    .venv/bin/python benchmarks/report_top.py runs/compare --out docs/images/pick.png

No browser is needed: the table is read from recommendation.json and report.md and drawn with matplotlib.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first


def rows(study: Path) -> tuple[str, list[list[str]]]:
    """The report's title and one row per profile: network, pick (or undecided), and why."""
    recommendation = json.loads((study / "recommendation.json").read_text())
    title = (study / "report.md").read_text().splitlines()[0].lstrip("# ")
    table = []
    for entry in recommendation["profiles"].values():
        pick = entry["pick"] if entry["decided"] else "undecided"
        why = entry["verdict"] if entry["decided"] else entry["what_would_decide"]
        table.append(["\n".join(textwrap.wrap(entry["network"], 30)), pick, "\n".join(textwrap.wrap(why, 80))])
    return title, table


def draw(study: Path, out: Path) -> None:
    title, table = rows(study)
    height = 1.2 + sum(0.28 * max(1, r[2].count("\n") + 1) for r in table)
    fig, ax = plt.subplots(figsize=(13, height))
    ax.axis("off")
    ax.set_title(f"{title}: which method to pick", loc="left", fontsize=12, fontweight="bold")
    cells = ax.table(cellText=table, colLabels=["network", "pick", "why"], loc="upper left", cellLoc="left",
                     colWidths=[0.22, 0.14, 0.64])
    cells.auto_set_font_size(False)
    cells.set_fontsize(8.5)
    for (row, _), cell in cells.get_celld().items():
        lines = max(c.count("\n") for c in table[row - 1]) + 1 if row else 1
        cell.set_height(0.9 * lines / (len(table) + 2) / max(1.0, height / 3))
        if row == 0:
            cell.set_text_props(fontweight="bold")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a `distgan compare --out` folder with its report built")
    parser.add_argument("--out", type=Path, default=Path("docs/images/pick.png"), help="the PNG to write")
    args = parser.parse_args()
    draw(args.study, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
