"""The report as Markdown, with pictures linked by paths relative to the report's folder."""

from __future__ import annotations

import os
from pathlib import Path

from distgan.report.content import Report


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]], numbers: bool = False) -> list[str]:
    """A pipe table; with `numbers`, every column after the first is right-aligned."""
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |",
             "|" + "|".join("---:" if numbers and i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return lines


def _link(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _note(text: str) -> list[str]:
    return [text, ""] if text else []


def _pick(report: Report) -> list[str]:
    """`## Which method to pick`: the rule, a line per profile, then each profile's ranking."""
    if not report.pick_rows:
        return []
    needs = ", ".join(report.pick_requirements) or "none"
    lines = ["## Which method to pick", "", f"Rule: {report.pick_rule}", "",
             f"Requirements (--require): {needs}. Target: {report.target}. Times are each run's trace replayed on "
             "the profile (`distgan project`).", "", *_table(report.pick_header, report.pick_rows), ""]
    for section in report.pick_sections:
        lines += [f"### {section.title}", "", f"**{section.verdict}**", "", *_table(section.header, section.rows),
                  "", *[f"- {line}" for line in section.lines], ""]
    return lines


def render(report: Report, root: Path) -> str:
    """The whole document as a string; `root` is the folder the file is written to."""
    lines = [f"# {report.title}", "", *_table(["setting", "value"], [list(f) for f in report.facts]), "",
             *_pick(report),
             "## Results", "", *_table(report.header, report.rows, numbers=True), "",
             "## Verdicts", "", *_note(report.verdicts_note), *[f"- {v}" for v in report.verdicts], ""]
    if report.equal_cost:
        lines += ["## At equal cost", "", *[f"{n}\n" for n in report.equal_cost_notes],
                  *[f"- {v}" for v in report.equal_cost], ""]
    lines += ["## Time to target", "", f"Target: {report.target}.", ""]
    if report.time_rows:
        lines += [*_table(report.time_header, report.time_rows), "",
                  "Each cell: median [min, max] over every seed; a seed that never reached the target counts as "
                  "more than its whole run (\"> final\").", "", *_note(report.time_note),
                  *[f"- {v}" for v in report.time_verdicts], ""]
    if report.claims:
        lines += ["## The MD-GAN paper's claims", "", *_note(report.claims_note), *[f"- {c}" for c in report.claims],
                  ""]
    if report.network:
        lines += [f"## Crossover bandwidth ({report.network})", "", *[f"- {c}" for c in report.crossovers], ""]
    lines += ["## Failures", ""]
    lines += [f"- {f}" for f in report.failures] or ["Nothing failed: every cell finished and no rank dropped out."]
    for fig in report.figures:
        lines += ["", f"## {fig.title}", "", f"![{fig.title}]({_link(fig.path, root)})", "", fig.caption]
    lines += ["", "## Samples (last picture of each cell's first finished seed)", ""]
    lines += [f"**{name}**\n\n![samples: {name}]({_link(path, root)})\n" for name, path in report.samples] or \
        ["n/a: no finished run saved a sample picture."]
    lines += ["", "## What one step is", "",
              *_table(["method", "one step of the budget (one generator update) is"],
                      [list(i) for i in report.step_definitions.items()]),
              "", "## Notes", "", *[f"- {n}" for n in report.notes], ""]
    return "\n".join(lines)
