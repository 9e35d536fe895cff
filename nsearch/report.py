"""What a search leaves the user: tables, a Pareto plot, Optuna's interactive plots, a report."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna

log = logging.getLogger(__name__)

TABLE_COLUMNS = (
    ("trial", "trial", "{}"),
    ("config", "config", "{}"),
    ("accuracy_percent", "val acc (%)", "{:.2f}"),
    ("test_accuracy_percent", "test acc (%)", "{:.2f}"),
    ("params_millions", "params (M)", "{:.3f}"),
    ("gmacs", "GMACs", "{:.4f}"),
    ("netscore", "NetScore (dB)", "{:.2f}"),
    ("information_density", "acc/params (%/M)", "{:.1f}"),
    ("epochs_trained", "epochs", "{}"),
)


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: Sequence[dict[str, Any]], best: int | None) -> str:
    def cell(row: dict[str, Any], key: str, fmt: str) -> str:
        value = row.get(key)
        return "" if value is None else fmt.format(value)

    lines = [
        "| " + " | ".join(["", *(title for _, title, _ in TABLE_COLUMNS)]) + " |",
        "|" + "---|" * (len(TABLE_COLUMNS) + 1),
    ]
    for row in rows:
        mark = "best" if row["trial"] == best else ""
        cells = [cell(row, key, fmt) for key, _, fmt in TABLE_COLUMNS]
        lines.append("| " + " | ".join([mark, *cells]) + " |")
    return "\n".join(lines)


def plot_pareto(
    path: Path,
    rows: Sequence[dict[str, Any]],
    front: Sequence[dict[str, Any]],
    best: dict[str, Any] | None,
    min_accuracy: float,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["state"] == "complete" and r["accuracy_percent"] is not None]
    fig, ax = plt.subplots(figsize=(9, 6))
    if done:
        points = ax.scatter(
            [r["gmacs"] for r in done],
            [r["accuracy_percent"] for r in done],
            s=[20 + 200 * r["params_millions"] for r in done],
            c=[r["netscore"] for r in done],
            cmap="viridis",
            alpha=0.75,
            edgecolors="k",
            linewidths=0.4,
            label="completed trials (area ~ params)",
        )
        fig.colorbar(points, ax=ax, label="NetScore (dB)")
    ordered = sorted(front, key=lambda r: r["gmacs"])
    ax.plot(
        [r["gmacs"] for r in ordered],
        [r["accuracy_percent"] for r in ordered],
        "o--",
        mfc="none",
        mec="crimson",
        color="crimson",
        ms=14,
        lw=0.8,
        label="Pareto front (accuracy, params, MACs)",
    )
    for r in ordered:
        ax.annotate(f"#{r['trial']}", (r["gmacs"], r["accuracy_percent"]), fontsize=8,
                    xytext=(6, 4), textcoords="offset points")  # fmt: skip
    if best is not None:
        ax.plot(best["gmacs"], best["accuracy_percent"], "*", color="gold", mec="k", ms=18,
                label=f"best feasible NetScore (#{best['trial']})")  # fmt: skip
    ax.axhline(min_accuracy, color="grey", ls=":", label=f"accuracy floor {min_accuracy:g} %")
    if done:
        ax.set_xscale("log")
    ax.set_xlabel("GMACs per image (conv + linear + matmul)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Search results: accuracy vs MACs, point area ~ parameters")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_optuna_html(out: Path, study: optuna.Study) -> list[Path]:
    """Optuna's interactive plots, as HTML files that share one copy of plotly.js."""
    from optuna import visualization as vis

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not vis.is_available() or len(complete) < 2:
        return []
    figures: dict[str, Any] = {}
    if len(study.directions) > 1:
        figures["pareto_front"] = lambda: vis.plot_pareto_front(study)
    else:
        figures["optimization_history"] = lambda: vis.plot_optimization_history(study)
        figures["intermediate_values"] = lambda: vis.plot_intermediate_values(study)
        figures["param_importances"] = lambda: vis.plot_param_importances(study)
    figures["slice"] = lambda: vis.plot_slice(study, target=_target(study))
    figures["contour"] = lambda: vis.plot_contour(study, target=_target(study))
    written = []
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # plots warn about one-valued params
    folder = out / "optuna"
    folder.mkdir(exist_ok=True)
    for name, make in figures.items():
        try:
            figure = make()
        except Exception as error:  # a plot that this study cannot make (e.g. one parameter)
            log.info("skipped the %s plot: %s", name, error)
            continue
        path = folder / f"{name}.html"
        figure.write_html(path, include_plotlyjs="directory")
        written.append(path)
    optuna.logging.set_verbosity(verbosity)
    return written


def _target(study: optuna.Study) -> Any:
    if len(study.directions) == 1:
        return None
    return lambda t: t.values[0]
