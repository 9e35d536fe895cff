"""Writing a run's results: read the records, select, test the front, and write every file."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from nsearch.search import objectives, report
from nsearch.search.evaluation import test_front
from nsearch.search.plots import plot_pareto
from nsearch.search.results import TrialRecord, read_records
from nsearch.search.run_info import RunInfo
from nsearch.search.selection import best_feasible, front
from nsearch.search_spaces import get_space

__all__ = ["Results", "write_optuna_html", "write_results"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Results:
    records: list[TrialRecord]
    front: list[TrialRecord]
    best: TrialRecord | None


def write_results(
    out: Path, info: RunInfo, study: optuna.Study, test_batches: Iterable[Any]
) -> Results:
    """Measure the front's test accuracy and write ``trials.csv``, ``pareto.csv``,
    ``pareto.png``, ``optuna/*.html`` and ``report.md``."""
    settings = info.settings
    selection = settings.selection
    space = get_space(settings.space)
    records = read_records(study, out)
    chosen = test_front(out, front(records, selection), info, test_batches)
    tested = {r.trial: r for r in chosen}
    records = [tested.get(r.trial, r) for r in records]
    best = best_feasible(records, selection)
    report.write_csv(out / "trials.csv", records, space, settings.min_accuracy,
                     budgets=selection.budgets)  # fmt: skip
    report.write_csv(
        out / "pareto.csv",
        chosen,
        space,
        settings.min_accuracy,
        extra=[
            {"rank": rank, "best_feasible_netscore": best is not None and r.trial == best.trial}
            for rank, r in enumerate(chosen, start=1)
        ],
        budgets=selection.budgets,
    )
    cost_axis = objectives.get(settings.objective).cost_axis
    plot_pareto(out / "pareto.png", records, chosen, best, settings.min_accuracy, cost_axis)
    plots = write_optuna_html(out, study)
    text = report.markdown_report(info, records, chosen, best, space, out_name=str(out),
                                  plots=[str(p) for p in plots])  # fmt: skip
    (out / "report.md").write_text(text)
    return Results(records, chosen, best)


def write_optuna_html(out: Path, study: optuna.Study) -> list[Path]:
    """Optuna's interactive plots, as HTML files that share one copy of plotly.js."""
    from optuna import visualization as vis

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not vis.is_available() or len(complete) < 2:
        return []
    multi = len(study.directions) > 1
    target = (lambda t: t.values[0]) if multi else None
    target_name = study.metric_names[0] if multi and study.metric_names else "Objective Value"
    figures: dict[str, Any] = {}
    if len(study.directions) > 1:
        figures["pareto_front"] = lambda: vis.plot_pareto_front(study)
    else:
        figures["optimization_history"] = lambda: vis.plot_optimization_history(study)
        figures["intermediate_values"] = lambda: vis.plot_intermediate_values(study)
        figures["param_importances"] = lambda: vis.plot_param_importances(study)
    figures["slice"] = lambda: vis.plot_slice(study, target=target, target_name=target_name)
    figures["contour"] = lambda: vis.plot_contour(study, target=target, target_name=target_name)
    written = []
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # plots warn about one-valued params
    folder = out / "optuna"
    folder.mkdir(exist_ok=True)
    try:
        for name, make in figures.items():
            try:
                figure = make()
            except Exception as error:  # a plot that this study cannot make (one parameter)
                log.info("skipped the %s plot: %s", name, error)
                continue
            path = folder / f"{name}.html"
            figure.write_html(path, include_plotlyjs="directory")
            written.append(path)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return written
