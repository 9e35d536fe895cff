"""What a search leaves the user, as pure functions of its trial records: CSV tables, the markdown
table and report, and the Pareto plot. (Optuna's own interactive plots are in
:mod:`nsearch.search.outputs`, which writes all of these files.)"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nsearch.metrics import difference_interval
from nsearch.search import objectives
from nsearch.search.results import TrialRecord
from nsearch.search.run_info import RunInfo
from nsearch.search.selection import is_feasible
from nsearch.search_spaces import SearchSpace

__all__ = ["CSV_COLUMNS", "indistinguishable", "markdown_report", "markdown_table",
           "plot_pareto", "write_csv"]  # fmt: skip

# trials.csv and pareto.csv: these record attributes, then the architecture's parameters.
CSV_COLUMNS = (
    "trial", "state", "status", "accuracy_percent", "accuracy_ci_low", "accuracy_ci_high",
    "val_images", "val_correct", "test_accuracy_percent", "test_ci_low", "test_ci_high",
    "test_images", "test_correct", "estimate", "confirms", "params", "params_millions", "macs",
    "gmacs", "latency_ms",
    "latency_p90_ms", "netscore", "netscore_latency", "information_density", "epochs_trained",
    "best_epoch", "train_seconds", "checkpoint", "worker",
)  # fmt: skip


@dataclass(frozen=True)
class _Column:
    attribute: str
    title: str
    fmt: str


TABLE = (
    _Column("trial", "trial", "{}"),
    _Column("config", "architecture", "{}"),
    _Column("accuracy_percent", "val acc (%)", "{:.2f}"),
    _Column("accuracy_interval", "val 95 % CI", "{}"),
    _Column("test_accuracy_percent", "test acc (%)", "{:.2f}"),
    _Column("params_millions", "params (M)", "{:.3f}"),
    _Column("gmacs", "GMACs", "{:.4f}"),
    _Column("latency_ms", "latency (ms)", "{:.2f}"),
    _Column("netscore", "NetScore (dB)", "{:.2f}"),
    _Column("epochs_trained", "epochs", "{}"),
)


def _row(record: TrialRecord, space: SearchSpace | None) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in CSV_COLUMNS}
    config = None
    if space is not None:
        config = space.describe(space.config_from_params(record.architecture))
    return {"trial": record.trial, "config": config, **row, **dict(record.architecture)}


def write_csv(
    path: Path,
    records: Sequence[TrialRecord],
    space: SearchSpace | None,
    extra: Sequence[dict[str, Any]] | None = None,
) -> None:
    """One row per record: :data:`CSV_COLUMNS`, a one-line architecture, its parameters, and
    ``extra`` columns per row (such as a rank)."""
    rows = [_row(r, space) for r in records]
    if extra is not None:
        rows = [{**row, **more} for row, more in zip(rows, extra)]
    columns: list[str] = []
    for row in rows or [{name: None for name in ("trial", "config", *CSV_COLUMNS)}]:
        columns += [k for k in row if k not in columns]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def indistinguishable(front: Sequence[TrialRecord]) -> dict[int, list[int]]:
    """For each front trial, the others whose validation accuracy it cannot be told apart from
    (the 95 % interval of their difference holds 0)."""
    ties: dict[int, list[int]] = {r.trial: [] for r in front}
    for i, a in enumerate(front):
        for b in front[i + 1 :]:
            va, vb = a.validation, b.validation
            if va is None or vb is None:
                continue
            low, high = difference_interval((va.correct, va.images), (vb.correct, vb.images))
            if low <= 0 <= high:
                ties[a.trial].append(b.trial)
                ties[b.trial].append(a.trial)
    return ties


def markdown_table(
    records: Sequence[TrialRecord],
    best: TrialRecord | None,
    space: SearchSpace | None,
    estimates: Mapping[int, TrialRecord] | None = None,
) -> str:
    """The records as a markdown table; the best feasible trial is marked. With ``estimates``
    (trial number -> the supernet's estimate), a trained trial that confirms an estimate shows
    that estimate beside its own accuracy."""
    columns = list(TABLE)
    if estimates:
        columns.insert(4, _Column("estimate", "supernet estimate (%)", "{:.2f}"))

    def cell(record: TrialRecord, column: _Column) -> str:
        if column.attribute == "estimate":
            estimate = (
                (estimates or {}).get(record.confirms) if record.confirms is not None else None
            )
            return "" if estimate is None else column.fmt.format(estimate.accuracy_percent)
        if column.attribute == "config":
            return (
                ""
                if space is None
                else space.describe(space.config_from_params(record.architecture))
            )
        if column.attribute == "accuracy_interval":
            if record.accuracy_ci_low is None or record.accuracy_ci_high is None:
                return ""
            return f"{record.accuracy_ci_low:.1f}-{record.accuracy_ci_high:.1f}"
        value = getattr(record, column.attribute)
        return "" if value is None else column.fmt.format(value)

    lines = [
        "| " + " | ".join(["", *(c.title for c in columns)]) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for record in records:
        mark = "best" if best is not None and record.trial == best.trial else ""
        lines.append("| " + " | ".join([mark, *(cell(record, c) for c in columns)]) + " |")
    return "\n".join(lines)


def markdown_report(
    info: RunInfo,
    records: Sequence[TrialRecord],
    front: Sequence[TrialRecord],
    best: TrialRecord | None,
    space: SearchSpace | None,
    *,
    out_name: str,
    plots: Sequence[str] = (),
) -> str:
    """``report.md``: what was searched, the front with intervals, which front models cannot be
    told apart, the best feasible trial, and where the files are."""
    s = info.settings
    objective = objectives.get(s.objective)
    cost = "latency" if objective.cost_axis == "latency_ms" else "MACs"
    states = [r.state for r in records]
    epochs = sum(r.epochs_trained for r in records)
    images = next((r.val_images for r in records if r.val_images), None)
    feasible = sum(is_feasible(r, s) for r in records)
    estimates = {r.trial: r for r in records if r.estimate}
    lines = [
        f"# nsearch: {s.space} on {s.data}",
        "",
        f"Study `{info.study_name}`, objective `{s.objective}`, {len(records)} trials "
        f"({states.count('complete')} complete, {states.count('pruned')} pruned or over budget, "
        f"{states.count('fail')} failed), {epochs} epochs trained, {feasible} feasible.",
        f"Accuracy floor {s.min_accuracy:g} % (validation); params budget "
        + (f"{s.max_params:g} M" if s.max_params else "none")
        + "; MACs budget "
        + (f"{s.max_macs:g} GMACs" if s.max_macs else "none")
        + "; latency budget "
        + (f"{s.max_latency_ms:g} ms." if s.max_latency_ms else "none."),
        "",
        "Units: accuracy in percent with its Wilson 95 % interval"
        + (f" on {images:,} validation images" if images else "")
        + "; test accuracy on the held-out test split, measured for the front's models only; "
        "params in millions; MACs in billions (GMACs) per image; latency in milliseconds per "
        "image (median, batch 1, one CPU thread, measured before training); NetScore = "
        "20 log10(acc^2 / (params^0.5 * GMACs^0.5)) in dB; latency NetScore (nsearch's "
        "extension) the same with milliseconds in place of GMACs.",
        "",
        *(
            [
                f"Strategy `supernet`: {len(estimates)} sub-networks were scored with the shared "
                "weights of one supernet (their accuracies are estimates, in `trials.csv`); the "
                "front holds the networks then trained on their own to confirm them, with the "
                "estimate beside.",
                "",
            ]
            if estimates
            else []
        ),
        f"## Pareto front (accuracy vs params vs {cost})",
        "",
        markdown_table(front, best, space, estimates),
        "",
    ]
    ties = indistinguishable(front)
    if any(ties.values()):
        lines.append(
            "At this sample size these front models cannot be told apart on validation accuracy "
            "(the 95 % interval of each pair's difference holds 0): "
            + "; ".join(
                f"#{t} from " + ", ".join(f"#{o}" for o in sorted(others))
                for t, others in ties.items()
                if others
            )  # fmt: skip
            + "."
        )
    elif len(front) > 1:
        lines.append("Every pair of front models differs in validation accuracy at 95 %.")
    if best is not None:
        score = "latency NetScore" if objective.rank_by == "netscore_latency" else "NetScore"
        lines.append(
            f"Best feasible {score}: trial {best.trial}, "
            f"{float(getattr(best, objective.rank_by)):.2f} dB at "
            f"{best.accuracy_percent:.2f} % validation accuracy. Export it with "
            f"`python -m nsearch.export --out {out_name} --trial {best.trial}`."
        )
    else:
        lines.append("No trial reached the accuracy floor yet.")
    elsewhere = [r for r in front if r.test is None]
    if elsewhere:
        lines.append(
            "Test accuracy is missing for trials whose checkpoints are on other machines: "
            + ", ".join(f"#{r.trial} ({r.worker})" for r in elsewhere)
            + "; run `python -m nsearch.run` with the same storage there to report them."
        )
    lines += ["", "![Pareto front](pareto.png)", ""]
    if plots:
        links = ", ".join(f"[{Path(p).stem}](optuna/{Path(p).name})" for p in plots)
        lines.append(f"Interactive plots: {links}")
    return "\n".join(lines) + "\n"


def plot_pareto(
    path: Path,
    records: Sequence[TrialRecord],
    front: Sequence[TrialRecord],
    best: TrialRecord | None,
    min_accuracy: float,
    cost_axis: str = "gmacs",
) -> None:
    """Validation accuracy (with 95 % intervals) against MACs (or latency); point area ~
    params."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in records if r.complete and getattr(r, cost_axis) is not None]
    fig, ax = plt.subplots(figsize=(9, 6))

    def values(rs: Sequence[TrialRecord], attribute: str) -> list[float]:
        return [float(getattr(r, attribute)) for r in rs]

    def errors(rs: Sequence[TrialRecord]) -> list[list[float]]:
        accuracy = values(rs, "accuracy_percent")
        low, high = values(rs, "accuracy_ci_low"), values(rs, "accuracy_ci_high")
        return [[a - lo for a, lo in zip(accuracy, low)], [h - a for a, h in zip(accuracy, high)]]

    if done:
        x, y = values(done, cost_axis), values(done, "accuracy_percent")
        ax.errorbar(x, y, yerr=errors(done), fmt="none", ecolor="grey", alpha=0.4, lw=0.8)
        points = ax.scatter(
            x, y, s=[20 + 200 * p for p in values(done, "params_millions")],
            c=values(done, "netscore"), cmap="viridis", alpha=0.75, edgecolors="k",
            linewidths=0.4, label="completed trials (area ~ params)",
        )  # fmt: skip
        fig.colorbar(points, ax=ax, label="NetScore (dB)")
    ordered = sorted(front, key=lambda r: float(getattr(r, cost_axis)))
    x, y = values(ordered, cost_axis), values(ordered, "accuracy_percent")
    ax.errorbar(x, y, yerr=errors(ordered), fmt="o--", mfc="none", mec="crimson", color="crimson",
                ms=14, lw=0.8, capsize=3,
                label="Pareto front, with 95 % intervals")  # fmt: skip
    for r, xi, yi in zip(ordered, x, y):
        ax.annotate(f"#{r.trial}", (xi, yi), fontsize=8, xytext=(6, 4), textcoords="offset points")
    if best is not None:
        (bx,), (by,) = values([best], cost_axis), values([best], "accuracy_percent")
        ax.plot(bx, by, "*", color="gold", mec="k", ms=18,
                label=f"best feasible (#{best.trial})")  # fmt: skip
    ax.axhline(min_accuracy, color="grey", ls=":", label=f"accuracy floor {min_accuracy:g} %")
    if done:
        ax.set_xscale("log")
    ax.set_xlabel(
        "GMACs per image (conv + linear + matmul)"
        if cost_axis == "gmacs"
        else "latency per image (ms, median, batch 1, one CPU thread)"
    )
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Search results: accuracy vs cost, point area ~ parameters")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
