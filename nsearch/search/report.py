"""What a search leaves the user, as pure functions of its trial records: CSV tables, the markdown
table and the report. (The plots are :mod:`nsearch.search.plots`; :mod:`nsearch.search.outputs`
writes all of these files.)"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nsearch.core.metrics import difference_interval
from nsearch.search import objectives
from nsearch.search.results import TrialRecord
from nsearch.search.run_info import RunInfo
from nsearch.search.selection import Budgets, Selection, floor_met, is_feasible, over_budget
from nsearch.search.study import data_name
from nsearch.search_spaces import SearchSpace

__all__ = ["CSV_COLUMNS", "indistinguishable", "markdown_report", "markdown_table", "write_csv"]

# trials.csv and pareto.csv: these record attributes, then the architecture's parameters.
CSV_COLUMNS = (
    "trial", "state", "status", "fidelity", "accuracy_percent", "accuracy_ci_low",
    "accuracy_ci_high", "val_images", "val_correct", "test_accuracy_percent", "test_ci_low",
    "test_ci_high", "test_images", "test_correct", "estimate", "confirms", "promotes", "reruns",
    "params", "params_millions",
    "macs", "gmacs", "latency_ms", "latency_p90_ms", "latency_runtime", "netscore",
    "netscore_latency", "information_density", "floor_met", "over_budget", "epochs_trained",
    "best_epoch", "train_seconds", "checkpoint", "worker",
)  # fmt: skip
# `floor_met` and `over_budget` are judged at the current floor and budgets, not stored.


@dataclass(frozen=True)
class _Column:
    attribute: str
    title: str
    fmt: str


TABLE = (
    _Column("trial", "trial", "{}"),
    _Column("config", "architecture", "{}"),
    _Column("fidelity", "fidelity", "{}"),
    _Column("accuracy_percent", "val acc (%)", "{:.2f}"),
    _Column("accuracy_interval", "val 95 % CI", "{}"),
    _Column("floor_met", "floor met", "{}"),
    _Column("test_accuracy_percent", "test acc (%)", "{:.2f}"),
    _Column("params_millions", "params (M)", "{:.3f}"),
    _Column("gmacs", "GMACs", "{:.4f}"),
    _Column("latency_ms", "latency (ms)", "{:.2f}"),
    _Column("netscore", "NetScore (dB)", "{:.2f}"),
    _Column("epochs_trained", "epochs", "{}"),
)


def _value(record: TrialRecord, name: str, min_accuracy: float,
           budgets: Budgets | None = None) -> Any:  # fmt: skip
    if name == "floor_met":
        return floor_met(record, min_accuracy)
    if name == "over_budget":
        return over_budget(record, budgets or Budgets())
    return getattr(record, name)


def _row(record: TrialRecord, space: SearchSpace | None, min_accuracy: float,
         budgets: Budgets) -> dict[str, Any]:  # fmt: skip
    row = {name: _value(record, name, min_accuracy, budgets) for name in CSV_COLUMNS}
    config = None
    if space is not None:
        config = space.describe(space.config_from_params(record.architecture))
    return {"trial": record.trial, "config": config, **row, **dict(record.architecture)}


def write_csv(
    path: Path,
    records: Sequence[TrialRecord],
    space: SearchSpace | None,
    min_accuracy: float,
    extra: Sequence[dict[str, Any]] | None = None,
    *,
    budgets: Budgets | None = None,
) -> None:
    """One row per record: :data:`CSV_COLUMNS` (``floor_met`` judged at ``min_accuracy``,
    ``over_budget`` at ``budgets``: why a trial is over them, in words, or empty), a one-line
    architecture, its parameters, and ``extra`` columns per row (such as a rank)."""
    rows = [_row(r, space, min_accuracy, budgets or Budgets()) for r in records]
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
    min_accuracy: float,
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
        value = _value(record, column.attribute, min_accuracy)
        return "" if value is None else column.fmt.format(value)

    lines = [
        "| " + " | ".join(["", *(c.title for c in columns)]) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for record in records:
        mark = "best" if best is not None and record.trial == best.trial else ""
        lines.append("| " + " | ".join([mark, *(cell(record, c) for c in columns)]) + " |")
    return "\n".join(lines)


def _data_title(info: RunInfo) -> str:
    """The data's name: a datamodule given as an object by its class, as the study is named."""
    fingerprint = info.fingerprint
    if fingerprint is not None and fingerprint.given_as_object:
        return fingerprint.origin.rpartition(" ")[2]
    return data_name(info.settings)


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
    selection: Selection = s.selection
    objective = objectives.get(s.objective)
    cost = "latency" if objective.cost_axis == "latency_ms" else "MACs"
    states = [r.state for r in records]
    interrupted = sum(r.interrupted for r in records)
    epochs = sum(r.epochs_trained for r in records)
    images = next((r.val_images for r in records if r.val_images), None)
    feasible = sum(is_feasible(r, selection) for r in records)
    estimates = {r.trial: r for r in records if r.estimate}
    lines = [
        f"# nsearch: {s.space} on {_data_title(info)}",
        "",
        f"Study `{info.study_name}`, objective `{s.objective}`, {len(records)} trials "
        f"({states.count('complete')} complete, {states.count('pruned')} pruned or over budget, "
        f"{states.count('fail') - interrupted} failed"
        + (f", {interrupted} interrupted (run again on resume)" if interrupted else "")
        + f"), {epochs} epochs trained, {feasible} feasible.",
        f"Accuracy floor {s.min_accuracy:g} % (validation); params budget "
        + (f"{s.max_params:g} M" if s.max_params else "none")
        + "; MACs budget "
        + (f"{s.max_macs:g} GMACs" if s.max_macs else "none")
        + "; latency budget "
        + (f"{s.max_latency_ms:g} ms." if s.max_latency_ms else "none."),
        "Images: " + " x ".join(map(str, info.input_shape))
        + (f" ({info.preprocessing})" if info.preprocessing else "")
        + (f"; training augmentation: {info.augmentation}." if info.augmentation else "."),
        f"The floor rule (`--floor-confidence {s.floor_confidence}`): {selection.rule}; "
        "`floor met` says `confident` when the interval's lower end is at or above the floor, "
        "`point estimate` when only the accuracy is, and `no` otherwise.",
        "",
        "Units: accuracy in percent with its Wilson 95 % interval"
        + (f" on {images:,} validation images" if images else "")
        + "; test accuracy on the held-out test split, measured for the front's models only; "
        "params in millions; MACs in billions (GMACs) per image; latency in milliseconds per "
        f"image (median, batch 1, one CPU thread, in {s.latency_runtime}, measured before "
        "training); NetScore = "
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
        markdown_table(front, best, space, s.min_accuracy, estimates),
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
            f"{best.accuracy_percent:.2f} % validation accuracy"
            + (f" at fidelity {best.fidelity} (epochs x training images)" if best.fidelity else "")
            + " (95 % interval "
            f"{best.accuracy_ci_low:.2f}-{best.accuracy_ci_high:.2f}, floor met: "
            f"{floor_met(best, s.min_accuracy)}). Export it with "
            f"`python -m nsearch.export --out {out_name} --trial {best.trial}`."
        )
    else:
        lines.append(f"No trial is feasible yet: {selection.rule}.")
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
