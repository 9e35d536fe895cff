"""The fidelity study's figures from its runs so far (:mod:`fidelity`): the final ceiling, each
reduced fidelity's and each estimator's agreement with the final truth, the cheapest fidelity
that ranks as well as 0.8 x the ceiling, a Markdown table and a plot of tau against cost."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ranking_summary import GOAL_FRACTION, top_k_overlap

from nsearch.core import kendall_tau


def agreement(estimate: Sequence[float], truth: Sequence[float]) -> dict[str, Any]:
    """Kendall tau with its 95 % interval, and top-k overlap (k a quarter of the networks, at
    least 3; with sets of k, the overlap is also the precision at k)."""
    k = max(3, len(truth) // 4)
    try:
        tau = kendall_tau(estimate, truth)
    except ValueError as error:  # fewer than 5 networks, or a constant estimate
        return {"kendall_tau": None, "ci95": None, "top_k_overlap": None, "k": k,
                "n": len(truth), "note": str(error)}  # fmt: skip
    return {"kendall_tau": tau.tau, "ci95": [tau.low, tau.high],
            "top_k_overlap": top_k_overlap(estimate, truth, k), "k": k, "n": tau.n}  # fmt: skip


def summarise(runs: list[dict[str, Any]], nets: list[dict[str, Any]],
              seeds: Sequence[int]) -> dict[str, Any]:  # fmt: skip
    """The study's JSON figures from the runs finished so far."""
    final: dict[int, dict[int, dict[str, Any]]] = {}
    reduced: dict[tuple[int, int], dict[int, dict[str, Any]]] = {}
    supernet = None
    for run in runs:
        if run["kind"] == "final":
            final.setdefault(run["net"], {})[run["seed"]] = run
        elif run["kind"] == "fidelity":
            reduced.setdefault((run["epochs"], run["images"]), {})[run["net"]] = run
        else:
            supernet = run
    truth = {n: statistics.mean(r["accuracy_percent"] for r in by_seed.values())
             for n, by_seed in final.items()}  # fmt: skip
    paired = [n for n, by_seed in final.items() if all(s in by_seed for s in seeds)]
    first_final = next(iter(next(iter(final.values()), {}).values()), None)
    summary: dict[str, Any] = {
        "n_architectures": len(truth),
        "seeds": max((len(by_seed) for by_seed in final.values()), default=0),
        "final": {
            "epochs": first_final["epochs"] if first_final else None,
            "train_images": first_final["train_images"] if first_final else None,
            "test_images": first_final["eval_images"] if first_final else None,
            "paired_architectures": len(paired),
            "ceiling": agreement([final[n][seeds[1]]["accuracy_percent"] for n in paired],
                                 [final[n][seeds[0]]["accuracy_percent"] for n in paired]),
            "accuracy_spread_points": (max(truth.values()) - min(truth.values())) if truth
            else None,
            "seconds_per_network": _median_seconds([r for by in final.values()
                                                  for r in by.values()]),
        },
    }  # fmt: skip
    fidelities = []
    for (epochs, _), by_net in sorted(reduced.items(), key=lambda kv: kv[0][0] * kv[0][1]):
        nets_both = [n for n in by_net if n in truth]
        runs_here = list(by_net.values())
        fidelities.append({
            "epochs": epochs, "train_images": runs_here[0]["train_images"],
            "image_epochs": epochs * runs_here[0]["train_images"],
            **agreement([by_net[n]["accuracy_percent"] for n in nets_both],
                        [truth[n] for n in nets_both]),
            "seconds_per_network": _median_seconds(runs_here),
        })  # fmt: skip
    summary["fidelities"] = fidelities
    known = sorted(truth)
    t = [truth[n] for n in known]
    summary["estimators"] = {
        "params": agreement([nets[n]["params"] for n in known], t),
        "macs": agreement([nets[n]["macs"] for n in known], t),
        "supernet": _supernet(supernet, truth),
    }
    summary["chosen_fidelity"] = _cheapest_good(fidelities, summary["final"]["ceiling"])
    return summary


def _median_seconds(runs: list[dict[str, Any]]) -> float | None:
    """The median job's wall seconds: a job paused mid-run (SIGSTOP while the machine was lent to
    CI) measures the pause too, and the median does not follow it."""
    return statistics.median(r["seconds"] for r in runs) if runs else None


def _supernet(run: dict[str, Any] | None, truth: dict[int, float]) -> dict[str, Any]:
    if run is None:
        return {"kendall_tau": None, "ci95": None, "note": "not measured yet"}
    scored = [n for n in sorted(truth) if run["scores"][n] is not None]
    t = [truth[n] for n in scored]
    return {"accuracy": agreement([run["scores"][n]["accuracy"] for n in scored], t),
            "loss": agreement([-run["scores"][n]["loss"] for n in scored], t),
            "kendall_tau": agreement([-run["scores"][n]["loss"] for n in scored], t)["kendall_tau"],
            "train_seconds": run["seconds"], "scored_by": "validation loss (lower: better)"}


def _cheapest_good(fidelities: list[dict[str, Any]], ceiling: dict[str, Any]) -> dict[str, Any]:
    """The cheapest fidelity (in image-epochs) whose tau reaches 0.8 x the ceiling."""
    c = ceiling.get("kendall_tau")
    if c is None:
        return {"note": "no ceiling yet (fewer than 5 networks trained with both seeds)"}
    goal = GOAL_FRACTION * c
    good = [f for f in fidelities if f["kendall_tau"] is not None and f["kendall_tau"] >= goal]
    if not good:
        return {"goal_tau": goal, "note": "no reduced fidelity reaches it"}
    best = min(good, key=lambda f: f["image_epochs"])
    return {"goal_tau": goal, "fidelity": f"{best['epochs']}x{best['train_images']}",
            "kendall_tau": best["kendall_tau"]}


def print_table(state: dict[str, Any]) -> None:
    """The study as Markdown (the README's table)."""
    f, c = state.get("final", {}), state.get("final", {}).get("ceiling", {})
    print(f"{state.get('n_architectures', 0)} networks, final recipe {f.get('epochs')} epochs x "
          f"{f.get('train_images')} images; {f.get('paired_architectures')} with two seeds.")
    if c.get("kendall_tau") is not None:
        print(f"Ceiling (seed vs seed): tau {c['kendall_tau']:+.2f} [{c['ci95'][0]:+.2f}, "
              f"{c['ci95'][1]:+.2f}]; spread {f['accuracy_spread_points']:.2f} points.")
    print("\n| estimator | image-epochs | median s/network | Kendall tau [95 % CI] "
          "| top-k overlap |")
    print("|---|---:|---:|---|---:|")
    rows = [(f"{x['epochs']} x {x['train_images']}", x["image_epochs"], x["seconds_per_network"],
             x) for x in state.get("fidelities", [])]  # fmt: skip
    rows += [(name, None, None, e) for name, e in state.get("estimators", {}).items()]
    for name, cost, seconds, e in rows:
        tau = ("n/a" if e.get("kendall_tau") is None else
               f"{e['kendall_tau']:+.2f} [{e['ci95'][0]:+.2f}, {e['ci95'][1]:+.2f}]"
               if e.get("ci95") else f"{e['kendall_tau']:+.2f}")  # fmt: skip
        overlap = e.get("top_k_overlap")
        print(f"| {name} | {cost or ''} | {'' if seconds is None else f'{seconds:.0f}'} | {tau} "
              f"| {'' if overlap is None else f'{overlap:.2f}'} |")  # fmt: skip
    print(f"\nCheapest fidelity at 0.8 x the ceiling: {state.get('chosen_fidelity')}")


def print_networks(state: dict[str, Any],
                   floors: Sequence[float] = (90.0, 90.5, 91.0, 91.5)) -> None:  # fmt: skip
    """Each network's final test accuracy by seed, cheapest first (Markdown), and for each of
    ``floors`` the cheapest network whose seed-mean clears it: where a floor binds."""
    by_net: dict[int, dict[int, float]] = {}
    for run in state.get("runs", []):
        if run["kind"] == "final":
            by_net.setdefault(run["net"], {})[run["seed"]] = run["accuracy_percent"]
    nets = state.get("architectures", [])
    seeds = sorted({s for accuracies in by_net.values() for s in accuracies})
    print("\n| network | MMACs | M params | " + " | ".join(f"seed {s} %" for s in seeds)
          + " | mean % |")  # fmt: skip
    print("|---|---:|---:|" + "---:|" * (len(seeds) + 1))
    ordered = sorted(by_net, key=lambda n: nets[n]["macs"])
    for n in ordered:
        accuracies = by_net[n]
        cells = " | ".join(f"{accuracies[s]:.2f}" if s in accuracies else "" for s in seeds)
        print(f"| {nets[n]['description']} | {nets[n]['macs'] / 1e6:.1f} | "
              f"{nets[n]['params'] / 1e6:.3f} | {cells} | "
              f"{statistics.mean(accuracies.values()):.2f} |")  # fmt: skip
    for floor in floors:
        clears = [n for n in ordered if statistics.mean(by_net[n].values()) >= floor]
        where = (f"{nets[clears[0]]['description']} ({nets[clears[0]]['macs'] / 1e6:.1f} MMACs)"
                 if clears else "none")  # fmt: skip
        print(f"Cheapest network at or above {floor} % (seed mean): {where}")


def plot(state: dict[str, Any], path: Path) -> None:
    """Tau against cost per network (image-epochs), the ceiling as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [x for x in state.get("fidelities", []) if x.get("kendall_tau") is not None]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    x = [r["image_epochs"] for r in rows]
    ax.errorbar(x, [r["kendall_tau"] for r in rows],
                yerr=[[r["kendall_tau"] - r["ci95"][0] for r in rows],
                      [r["ci95"][1] - r["kendall_tau"] for r in rows]], fmt="o", capsize=3)
    for r in rows:
        ax.annotate(f"{r['epochs']}x{r['train_images']}", (r["image_epochs"], r["kendall_tau"]),
                    textcoords="offset points", xytext=(4, 4), fontsize=8)  # fmt: skip
    c = state["final"]["ceiling"]
    if c.get("kendall_tau") is not None:
        ax.axhspan(*c["ci95"], color="grey", alpha=0.2, label="final seed vs seed (95 % CI)")
        ax.axhline(c["kendall_tau"], color="grey")
        ax.axhline(GOAL_FRACTION * c["kendall_tau"], color="grey", ls="--", label="0.8 x ceiling")
        ax.legend(fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("training cost per network (image-epochs)")
    ax.set_ylabel("Kendall tau vs final test accuracy")
    ax.set_title(f"{state['n_architectures']} MobileNet-space networks")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
