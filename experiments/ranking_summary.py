"""How well each figure of :mod:`supernet_ranking` ranks the sub-networks, and its printed report:
Kendall's tau-b of each figure against the standalone accuracies, the goal, and the tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nsearch.core import kendall_tau

if TYPE_CHECKING:
    from supernet_ranking import Subnet

GOAL_SUBNETS = 12  # the issue asks for at least 12
GOAL_TAU = 0.6
# Each figure whose ranking of the sub-networks is compared with their standalone accuracy:
# the Subnet field that holds it. Higher is taken to mean more accurate for every figure.
FIGURES = {
    "supernet": "supernet_percent",
    "params": "params",
    "synflow": "synflow",
    "synflow_relu": "synflow_relu",
    "macs": "macs",
}
BASELINES = ("params", "synflow", "synflow_relu")  # zero-cost rankings the supernet must beat
GOAL = (
    f"supernet tau >= {GOAL_TAU} over >= {GOAL_SUBNETS} sub-networks, and above the taus of "
    "parameter count and synflow (both variants)"
)


def rank_agreement(rows: Sequence[Subnet]) -> dict[str, Any]:
    """Kendall's tau (with interval) of each of :data:`FIGURES` against the standalone accuracy,
    over the sub-networks that trained; a message where it is undefined."""
    trained = [r for r in rows if r.standalone_percent is not None]
    accuracy = [float(r.standalone_percent or 0.0) for r in trained]
    taus: dict[str, Any] = {}
    for name, field_name in FIGURES.items():
        try:
            taus[name] = vars(
                kendall_tau([float(getattr(r, field_name)) for r in trained], accuracy)
            )
        except ValueError as error:  # fewer than 5 trained, or a constant figure
            taus[name] = str(error)
    return taus


def goal_met(taus: dict[str, Any]) -> bool:
    """Whether :data:`GOAL` is met."""
    supernet = taus["supernet"]
    if not isinstance(supernet, dict):
        return False
    baselines = [taus[b]["tau"] for b in BASELINES if isinstance(taus[b], dict)]
    return (
        supernet["n"] >= GOAL_SUBNETS
        and supernet["tau"] >= GOAL_TAU
        and all(supernet["tau"] > b for b in baselines)
    )


def describe(tau: Any) -> str:
    if isinstance(tau, dict):
        return f"{tau['tau']:+.3f} [{tau['low']:+.3f}, {tau['high']:+.3f}] (n={tau['n']})"
    return f"n/a ({tau})"


def print_results(rows: Sequence[Subnet], result: dict[str, Any]) -> None:
    """The table of sub-networks, the taus and the timings, in Markdown."""
    print(
        "\n| # | config | params (M) | MACs (M) | supernet % | alone % | log10 synflow "
        "| log10 synflow (ReLU) |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        alone = f"{r.standalone_percent:.2f}" if r.standalone_percent is not None else "failed"
        print(
            f"| {r.index} | {r.description} | {r.params / 1e6:.3f} | {r.macs / 1e6:.2f} | "
            f"{r.supernet_percent:.2f} | {alone} | {math.log10(max(r.synflow, 1e-300)):.2f} | "
            f"{math.log10(max(r.synflow_relu, 1e-300)):.2f} |"
        )
    print("\nKendall's tau-b against standalone accuracy [95% interval]:")
    for name, tau in result["taus"].items():
        print(f"  {name:13s} {describe(tau)}")
    t = result["timings"]
    print(f"\nGoal ({GOAL}): {'met' if result['goal_met'] else 'not met'}.")
    print(
        f"Supernet training {t['supernet_training_s']:.1f} s; {t['estimate_s_mean']:.2f} s per "
        f"estimate; {t['standalone_training_s_mean']:.1f} s per standalone training; "
        f"{t['synflow_s_mean']:.2f} s per synflow score."
    )


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
