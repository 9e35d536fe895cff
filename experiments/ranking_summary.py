"""How well each estimator of :mod:`supernet_ranking` ranks the sub-networks against the ranking's
own ceiling, and the printed report.

The ceiling is Kendall's tau between two independent trainings (the first two seeds) of the same
sub-networks; every estimator is judged by its tau against the mean accuracy over seeds, with
the 95 % interval, and by its top-k overlap (k a quarter of the sub-networks).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from nsearch.core import kendall_tau

GOAL_FRACTION = 0.8  # of the ceiling


def top_k_overlap(estimate: Sequence[float], truth: Sequence[float], k: int) -> float:
    """The share of the ``k`` best by ``truth`` that ``estimate`` also puts among its ``k`` best.

    Example::

        >>> top_k_overlap([1, 2, 3, 4], [1, 2, 4, 3], 2)
        1.0
    """
    best = set(sorted(range(len(truth)), key=lambda i: -truth[i])[:k])
    guessed = set(sorted(range(len(estimate)), key=lambda i: -estimate[i])[:k])
    return len(best & guessed) / k


def _agreement(estimate: Sequence[float], truth: Sequence[float], k: int) -> dict[str, Any]:
    try:
        tau = kendall_tau(estimate, truth)
    except ValueError as error:  # a constant estimate ranks nothing
        return {"kendall_tau": None, "ci95": None, "top_k_overlap": None, "k": k,
                "note": str(error)}  # fmt: skip
    return {"kendall_tau": tau.tau, "ci95": [tau.low, tau.high],
            "top_k_overlap": top_k_overlap(estimate, truth, k), "k": k}  # fmt: skip


def estimators_of(state: dict[str, Any]) -> dict[str, Any]:
    """The ceiling and every estimator's agreement with the seed-mean accuracy, so far."""
    runs = [state["standalone"].get(str(s), []) for s in state.get("seed_values", [])]
    n = min((len(r) for r in runs), default=0)
    if len(runs) < 2 or n < 5:
        return {"n_subnets": n, "note": "fewer than two seeds of five sub-networks yet"}
    accuracy = [[float(r[i]["accuracy_percent"]) for i in range(n)] for r in runs]
    truth = [statistics.mean(a[i] for a in accuracy) for i in range(n)]
    k = max(3, n // 4)
    subnets = state["subnets"][:n]
    summary: dict[str, Any] = {
        "n_subnets": n,
        "seeds": len(runs),
        "ceiling": _agreement(accuracy[1], accuracy[0], k),
        "accuracy_spread_points": max(truth) - min(truth),
        "estimators": {
            "params": _agreement([s["params"] for s in subnets], truth, k),
            "macs": _agreement([s["macs"] for s in subnets], truth, k),
            "synflow": _agreement([s["synflow"] for s in subnets], truth, k),
        },
    }
    timings: dict[str, Any] = {}
    for name, variant in state.get("variants", {}).items():
        timings[name] = {"train_seconds": variant["train_seconds"], "score_seconds": {}}
        scores = variant["scores"]
        for way, rows in scores.items():
            acc = [r["accuracy"] for r in rows[:n]]
            loss = [-r["loss"] for r in rows[:n]]  # lower loss: more accurate
            summary["estimators"][f"supernet-{name}-{way.replace('@', '-acc@')}"] = _agreement(
                acc, truth, k)  # fmt: skip
            summary["estimators"][f"supernet-{name}-{way.replace('@', '-loss@')}"] = _agreement(
                loss, truth, k)  # fmt: skip
            timings[name]["score_seconds"][way] = rows[0]["seconds"]
        for way in {w.split("@")[0] for w in scores}:
            if f"{way}@prev" in scores:
                for kind, sign in (("acc", 1), ("loss", -1)):
                    key = "accuracy" if kind == "acc" else "loss"
                    mean = [sign * (a[key] + b[key]) / 2
                            for a, b in zip(scores[f"{way}@last"][:n], scores[f"{way}@prev"][:n])]
                    summary["estimators"][f"supernet-{name}-{way}-{kind}@avg2"] = _agreement(
                        mean, truth, k)  # fmt: skip
        full = [r["accuracy"] for r in scores.get("full-recal8@last", [])[:n]]
        for way, rows in scores.items():
            if way.startswith("sub") and way.endswith("@last") and full:
                sub = [r["accuracy"] for r in rows[:n]]
                summary.setdefault("subsample_vs_full", {})[f"{name}-{way}"] = _agreement(
                    sub, full, k)  # fmt: skip
    summary["timings"] = timings
    ceiling = summary["ceiling"]["kendall_tau"] or 0.0
    summary["goal"] = (f"supernet tau >= {GOAL_FRACTION} x the ceiling "
                       f"({GOAL_FRACTION * ceiling:.3f}) and above the taus of params and MACs")
    return summary


def print_summary(state: dict[str, Any]) -> None:
    """The ceiling and the estimators as Markdown, best tau first."""
    s = state["summary"]
    if "ceiling" not in s:
        print(s)
        return
    c = s["ceiling"]
    print(f"\n{s['n_subnets']} sub-networks, {s['seeds']} seeds; accuracy spread "
          f"{s['accuracy_spread_points']:.2f} points (seed mean).")  # fmt: skip
    print(f"Ceiling (seed vs seed): tau {c['kendall_tau']:+.3f} [{c['ci95'][0]:+.3f}, "
          f"{c['ci95'][1]:+.3f}], top-{c['k']} overlap {c['top_k_overlap']:.2f}\n")  # fmt: skip
    print("| estimator | Kendall tau | 95 % CI | top-k overlap |\n|---|---:|---|---:|")
    ranked = sorted(s["estimators"].items(), key=lambda kv: -(kv[1]["kendall_tau"] or -9))
    for name, e in ranked:
        if e["kendall_tau"] is None:
            print(f"| {name} | n/a | {e['note']} | |")
            continue
        print(f"| {name} | {e['kendall_tau']:+.3f} | {e['ci95'][0]:+.3f} .. {e['ci95'][1]:+.3f} | "
              f"{e['top_k_overlap']:.2f} |")  # fmt: skip
    for name, t in s.get("timings", {}).items():
        print(f"{name}: supernet {t['train_seconds']:.0f} s; scoring s/subnet "
              + ", ".join(f"{w} {v:.2f}" for w, v in t["score_seconds"].items()))
