"""The search's own plot: validation accuracy (with 95 % intervals) against cost, point area by
parameters, the front and the best feasible trial marked. A pure function of trial records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nsearch.search.results import TrialRecord

__all__ = ["plot_pareto"]


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
