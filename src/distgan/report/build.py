"""`build_report(dir)`: read the run folders under DIR and write report.html, report.md and the plots beside them."""

from __future__ import annotations

import logging
from pathlib import Path

from distgan import compute_timing, stats
from distgan.checkpoint import atomic_write_bytes, atomic_write_json
from distgan.errors import DistganError
from distgan.report import (
    candidates,
    claims,
    content,
    costs,
    html,
    markdown,
    noninferiority,
    pick,
    plots,
    recommend,
    stragglers,
    target_rule,
    verdicts,
)
from distgan.report.aggregate import Group, group_runs
from distgan.report.comparison import correct, family_note
from distgan.report.content import Figure, Report
from distgan.report.load import Run, load_failures, load_runs, load_study
from distgan.report.projections import Projections
from distgan.report.table import is_points, table

log = logging.getLogger(__name__)
PLOT_FILES = ("fid_vs_updates.png", "fid_vs_wall.png", "fid_vs_bytes.png", "modes_vs_updates.png",
              "modes_vs_wall.png", "modes_vs_bytes.png", "scaling.png", "stragglers.png")
CURVES = (("g_updates", "updates", "against generator updates"), ("wall_s", "wall", "against wall-clock time"),
          ("bytes", "bytes", "against bytes moved"))


def build_report(root: str | Path, reference: str | None = None, target: float | None = None,
                 network: str | None = None, equivalence_margin: float | str | None = None, require: str | None = None,
                 margin: float | str | None = None, quality_margin: float | str | None = None) -> Path:
    """(Re)build the report of the runs at or under `root`; return the path of report.html.

    Verdicts pair every cell with `reference` (the study's, else standalone) seed by seed; time to target
    uses `target` (the study's, else 2x the real-vs-real FID floor, or all modes and 50% high quality).
    `network` lists the profiles ("wan,edge", "100mbit,30ms"; the study's, else datacenter, lan, wan and edge)
    that `## Which method to pick` projects every run onto; given explicitly, the report also finds the
    crossover bandwidths on its first profile. `require` filters the candidates ("data-stays-local,no-restart";
    default data-stays-local). `equivalence_margin` is that of the quality verdicts against the reference ("5",
    or "10%" of the reference's mean, the default). `margin` and `quality_margin` are the pick's (shares, "20%" or
    0.2; the study's, else report/noninferiority.py's defaults).
    """
    root = Path(root)
    study = load_study(root) or {}
    # bad profiles or requirements fail before anything is read or drawn
    profiles = candidates.parse_profiles(network if network is not None else study.get("network"))
    requirements = candidates.parse_requirements(require if require is not None else study.get("require"))
    runs = load_runs(root)
    groups = group_runs(runs)
    points = is_points(groups)
    floor = None if points else real_fid_floor(runs)
    header, rows = table(groups)
    labels = [g.label for g in groups]
    reference = reference or study.get("reference") or ("standalone" if "standalone" in labels or not labels
                                                         else labels[0])
    equivalence_margin = equivalence_margin if equivalence_margin is not None else study.get("equivalence_margin")
    looks = int(study.get("looks") or 1)  # a sequential study (--until-decided) decides each look at alpha / looks
    margins = _pick_margins(margin if margin is not None else study.get("margin"),
                            quality_margin if quality_margin is not None else study.get("quality_margin"))
    given = target if target is not None else study.get("target")
    from_study = None if given is not None or points else target_rule.study_target(groups, reference, floor)
    goal = verdicts.default_target(points, floor, from_study[0] if from_study else given)
    report = Report(
        title=_title(runs),
        facts=content.facts(runs, points, floor) + content.cost_facts(study.get("cost")),
        header=header, rows=rows,
        figures=_figures(groups, root, points, floor),
        samples=[(g.name, run.sample) for g in groups for run in g.finished[:1] if run.sample is not None],
        step_definitions=content.step_definitions(runs),
        failures=content.failures(groups, load_failures(root), root),
        notes=[*study.get("notes", []), *content.notes(runs, points)],
    )
    _verdicts(report, groups, reference, points, equivalence_margin)
    report.claims, report.claims_note = claims.paper_claims(groups, points)
    if goal is None:
        report.target = "n/a: no real-vs-real FID floor to set it from; give --target"
    else:
        report.target = goal.describe() + ("" if given is not None else f" ({from_study[1]})" if from_study else
                                           (" (all modes, the default for 2-D mixtures)" if points else
                                            " (2x the real-vs-real FID floor, the default)"))
        report.time_header, report.time_rows = verdicts.time_table(groups, goal)
        family = correct(verdicts.time_comparisons(groups, reference, goal))
        report.time_verdicts = [c.line() for c in family]
        report.time_note = family_note("Time to target", family, "a paired Student t test on the differences in "
                                       "generator updates where every seed of both reached the target, else an "
                                       "exact sign test on which reached it first, a seed that never reached it "
                                       "censored at the budget")
    projections = _pick(report, root, groups, goal, points, floor, profiles, requirements, margins, looks,
                        study.get("stages") or [], study.get("decided_at") or {})
    if goal is not None:
        if stragglers.sweeps(runs):
            report.figures.append(_straggler_figure(runs, goal, root))
    if network is not None and any(g.finished for g in groups):
        from distgan.report.network import crossover_part

        report.crossovers = crossover_part(groups, profiles[0], goal, projections)
        report.network = profiles[0].name
    atomic_write_bytes(root / "report.md", markdown.render(report, root).encode())
    atomic_write_bytes(root / "report.html", html.render(report).encode())
    log.debug("report: %s", root / "report.html")
    return root / "report.html"


def _pick_margins(margin: float | str | None, quality_margin: float | str | None) -> tuple[float, float]:
    """The pick's (time, quality) margins as shares: given, else the rule's defaults."""
    return (noninferiority.TIME_MARGIN if margin is None else stats.parse_share(margin, "--margin"),
            noninferiority.QUALITY_MARGIN if quality_margin is None else stats.parse_share(quality_margin,
                                                                                           "--quality-margin"))


def _pick(report: Report, root: Path, groups: list[Group], goal: verdicts.Target | None, points: bool,
          floor: float | None, profiles: list, requirements: list[str], margins: tuple[float, float], looks: int,
          stages: list[dict], decided_at: dict[str, dict]) -> Projections:
    """`## Which method to pick`, recommendation.json, and the figures of projected wall time; returns the runs'
    projections, for the crossovers."""
    for name in ("fid_vs_projected.png", "modes_vs_projected.png", "decision_map.png"):
        (root / name).unlink(missing_ok=True)
    cpus = {((r.summary or {}).get("machine") or {}).get("cpu") or "unknown" for g in groups for r in g.finished}
    timing = compute_timing.load(root, cpus)
    errors = {label: entry["error"] for label, entry in timing.items()}
    decisions, projections = recommend.recommend(groups, goal, points, profiles, requirements, *margins, timing,
                                                 stats.ALPHA / looks)
    report.pick_rule = " ".join([recommend.rule(points, *margins), compute_timing.describe(root, errors),
                                 *recommend.stages_text(looks, stages)])
    report.pick_requirements = requirements
    report.pick_header, report.pick_rows = pick.summary_rows(decisions)
    report.pick_sections = [pick.section(d, points) for d in decisions]
    if goal is None:
        report.pick_rows = [["all", "-", "undecided", "-", "-", "no: there is no target to reach (give --target)"]]
    elif decisions and not any(d.rows for d in decisions):
        report.pick_sections = []
        why = ("no run of this study kept its trace.jsonl, which the projection onto a network needs; run the study "
               "again with traces on (the default)") if projections.failed else \
            f"no cell meets the requirements ({'; '.join(decisions[0].excluded)})"
        report.pick_rows = [["all", "-", "undecided", "-", "-", f"no: {why}"]]
    recommendation = pick.recommendation_json(decisions, points, requirements, goal, *margins)
    if decided_at and goal is not None:  # a sequential study: a profile keeps the pick of the look that decided it
        report.pick_rows = pick.keep_earlier_decisions(decisions, report.pick_rows, report.pick_sections,
                                                       recommendation, decided_at)
    atomic_write_json(root / "recommendation.json", recommendation)
    figures = []
    if any(d.rows for d in decisions):
        stem = "modes" if points else "fid"
        path = root / f"{stem}_vs_projected.png"
        plots.projected_plot(groups, projections, profiles, path, points, floor)
        figures.append(Figure("Quality against projected wall time, per network", path,
                              "Mean over seeds of each cell's quality against its wall time projected on each "
                              "profile (its trace replayed on one link per rank; rank 0's evaluations left out)."
                              + (" FID on a log axis: the region near the floor is what matters." if not points
                                 else "")))
    if goal is not None and len({d.workers for d in decisions}) > 1 and any(d.rows for d in decisions):
        path = root / "decision_map.png"
        plots.decision_map(groups, projections, profiles[0], goal, points, requirements, path, *margins, errors,
                           stats.ALPHA / looks)
        figures.append(Figure("Decision map", path, f"The method the rule picks by bandwidth (x, the latency of "
                              f"{profiles[0].name} kept) and number of workers N (y); grey: undecided."))
    report.figures[len(CURVES):len(CURVES)] = figures
    return projections


def _verdicts(report: Report, groups: list[Group], reference: str, points: bool,
              margin: float | str | None) -> None:
    """The family against the reference, per update and again at equal real images and at equal compute."""
    per_update = correct(verdicts.quality_comparisons(groups, reference, points, margin))
    images = correct(verdicts.equal_cost_comparisons(groups, reference, points, costs.real_images_spent,
                                                     "at equal real images seen"))
    compute = correct(verdicts.equal_cost_comparisons(groups, reference, points, costs.compute_spent,
                                                      "at equal worker compute"))
    verdicts.cross_check(per_update, images, compute)
    report.verdicts = [c.line() for c in per_update]
    report.verdicts_note = family_note("Against the reference, per generator update", per_update,
                                       "paired Student t tests on the seed-by-seed differences of the final "
                                       "measure; equivalence margin ±" + _margin_text(per_update, margin))
    for family, what in ((images, "at equal real images seen"), (compute, "at equal worker compute")):
        if any(c.diffs for c in family):
            report.equal_cost_notes.append(family_note(
                f"Against the reference, {what}", family, "paired Student t tests; each pair of runs is read at "
                "the last evaluation within the cheaper run's whole budget"))
            report.equal_cost += [c.line() for c in family]


def _margin_text(family: list, margin: float | str | None) -> str:
    bound = next((c.margin for c in family if c.margin is not None), None)
    rule = "--equivalence-margin" if margin is not None else \
        f"{verdicts.DEFAULT_MARGIN} of the reference's mean, the default"
    return f"{bound:.3g} ({rule})" if bound is not None else f"none: nothing to compare ({rule})"


def _title(runs: list[Run]) -> str:
    datasets = ", ".join(dict.fromkeys(str(r.config.get("dataset", "?")) for r in runs))
    return f"distgan comparison: {datasets}"


def _figures(groups: list[Group], root: Path, points: bool, floor: float | None) -> list[Figure]:
    for name in PLOT_FILES:  # drop pictures of an earlier build that this one may not redraw
        (root / name).unlink(missing_ok=True)
    if not any(g.finished for g in groups):
        return []
    figures = []
    stem, what = ("modes", "Modes captured and high-quality %") if points else ("fid", "FID")
    for x, suffix, against in CURVES:
        path = root / f"{stem}_vs_{suffix}.png"
        left_out = plots.curves_plot(groups, x, path, points, floor)
        caption = f"{what} {against}; mean over seeds"
        shaded = sum(bool(g.finished) for g in groups) <= plots.MAX_SHADED
        caption += ", shaded ± one standard deviation." if shaded else " (too many lines to shade the spread)."
        if x == "bytes":
            caption += (" Bytes are all ranks' sent bytes; between evaluations they are estimated from rank 0's "
                        "running count, so the last point of each line is exact.")
        if floor is not None:
            caption += " The dashed line is the real-vs-real FID floor."
        if left_out:
            caption += f" Not shown (no such measurements): {', '.join(left_out)}."
        figures.append(Figure(f"{what} {against}", path, caption))
    if plots.scales(groups):
        path = root / "scaling.png"
        plots.scaling_plot(groups, path, points)
        quality = "modes captured" if points else "final FID"
        figures.append(Figure("Scaling with the number of workers", path,
                              f"Generator updates per second and {quality} against workers N (error bars: ± one "
                              "standard deviation over seeds). Dotted lines: methods run at one worker count only."))
    return figures


def _straggler_figure(runs: list[Run], goal: verdicts.Target, root: Path) -> Figure:
    path = root / "stragglers.png"
    missed = stragglers.straggler_plot(runs, goal, path)
    caption = (f"Wall time to {goal.describe()} against the straggler factor of the slowest worker "
               "(--slow RANK:FACTOR); mean over seeds.")
    if missed:
        caption += f" Never met the target, so not shown: {', '.join(missed)}."
    return Figure("Time to target against the straggler factor", path, caption)


def real_fid_floor(runs: list[Run]) -> float | None:
    """The real-vs-real FID floor: from a summary if one records it, else from the dataset's evaluator."""
    for run in runs:
        value = (run.summary or {}).get("real_fid_floor")
        if isinstance(value, (int, float)):
            return float(value)
    finished = [r for r in runs if r.summary is not None]
    if not finished:
        return None
    config = finished[0].config
    try:
        from distgan.data.registry import load_dataset
        from distgan.metrics.evaluate import make_evaluator

        dataset = load_dataset(config["dataset"])
        if dataset.kind != "image":
            return None
        return make_evaluator(dataset, config["dataset"], num_samples=config.get("eval_samples")).real_fid_floor
    except (DistganError, KeyError, OSError) as e:
        log.warning("real-vs-real FID floor not available (%s); the report shows n/a", e)
        return None
