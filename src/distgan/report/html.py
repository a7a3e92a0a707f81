"""The report as one self-contained HTML page: inline CSS, every picture a base64 data URI, nothing fetched."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from distgan.report.content import Report

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1240px;
       padding: 0 16px; color: #1d1d1f; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px;
     border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #d5d5d5; padding: 4px 7px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; font-weight: 600; white-space: normal; vertical-align: bottom; }
table.results { font-size: 13px; }
td:first-child, th:first-child { text-align: left; }
table.text td, table.text th { text-align: left; white-space: normal; }
table.text td:first-child { color: #555; white-space: nowrap; }
.scroll { overflow-x: auto; }
figure { margin: 12px 0 20px; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 13px; }
.samples { display: flex; flex-wrap: wrap; gap: 16px; }
.samples figure { margin: 0; width: 300px; } .samples img { width: 300px; }
.failed { color: #a00; } .ok { color: #2a7a2a; }
ul { padding-left: 20px; } code { background: #f3f3f3; padding: 0 3px; }
"""


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _table(header: list[str], rows: list[list[str]], css_class: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    cls = f' class="{css_class}"' if css_class else ""
    return f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _figure(title: str, path: Path, caption: str, css_class: str = "") -> str:
    cls = f' class="{css_class}"' if css_class else ""
    return (f'<figure{cls}><img src="{data_uri(path)}" alt="{escape(title)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _note(text: str) -> str:
    return f"<p>{escape(text)}</p>" if text else ""


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def render(report: Report) -> str:
    """The whole page as a string."""
    parts = [f"<h1>{escape(report.title)}</h1>", _table(["setting", "value"], [list(f) for f in report.facts],
                                                          "text")]
    if report.pick_rows:
        needs = ", ".join(report.pick_requirements) or "none"
        parts.append("<h2>Which method to pick</h2>" + _note(f"Rule: {report.pick_rule}")
                     + _note(f"Requirements (--require): {needs}. Target: {report.target}. Times are each run's "
                             "trace replayed on the profile (distgan project).")
                     + _table(report.pick_header, report.pick_rows, "text"))
        for section in report.pick_sections:
            parts.append(f"<h3>{escape(section.title)}</h3><p><b>{escape(section.verdict)}</b></p>"
                         + _table(section.header, section.rows, "text") + _list(section.lines))
    parts.append("<h2>Results</h2>" + _table(report.header, report.rows, "results"))
    parts.append("<h2>Verdicts</h2>" + _note(report.verdicts_note) + _list(report.verdicts))
    if report.equal_cost:
        parts.append("<h2>At equal cost</h2>" + "".join(_note(n) for n in report.equal_cost_notes)
                     + _list(report.equal_cost))
    parts.append(f"<h2>Time to target</h2><p>Target: {escape(report.target)}.</p>")
    if report.time_rows:
        parts.append(_table(report.time_header, report.time_rows, "text"))
        parts.append(_note("Each cell: median [min, max] over every seed; a seed that never reached the target "
                           "counts as more than its whole run (\"> final\")."))
        parts.append(_note(report.time_note) + _list(report.time_verdicts))
    if report.claims:
        parts.append("<h2>The MD-GAN paper's claims</h2>" + _note(report.claims_note) + _list(report.claims))
    if report.network:
        parts.append(f"<h2>Crossover bandwidth ({escape(report.network)})</h2><ul>"
                     + "".join(f"<li>{escape(c)}</li>" for c in report.crossovers) + "</ul>")
    parts.append("<h2>Failures</h2>")
    if report.failures:
        parts.append('<ul class="failed">' + "".join(f"<li>{escape(f)}</li>" for f in report.failures) + "</ul>")
    else:
        parts.append('<p class="ok">Nothing failed: every cell finished and no rank dropped out.</p>')
    for fig in report.figures:
        parts.append(f"<h2>{escape(fig.title)}</h2>" + _figure(fig.title, fig.path, fig.caption))
    parts.append("<h2>Samples (last picture of each cell's first finished seed)</h2>")
    if report.samples:
        parts.append('<div class="samples">' + "".join(
            _figure(f"samples: {name}", path, f"{name}: {path.name}", "sample") for name, path in report.samples)
            + "</div>")
    else:
        parts.append("<p>n/a: no finished run saved a sample picture.</p>")
    parts.append("<h2>What one step is</h2>" + _table(
        ["method", "one step of the budget (one generator update) is"], [list(i) for i in
                                                                          report.step_definitions.items()], "text"))
    parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in report.notes) + "</ul>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(report.title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
