"""Does the search earn its name? nsearch against random search, NSGA-II and hand scaling.

Every method gets the same budget of training epochs (the epochs the hand-scaled family needs),
on the same space family, data, recipe and seeds:

- ``nsearch``: nsearch's default strategy (its default settings, objective ``netscore``);
- ``random``: random search over the same space, without pruning;
- ``nsga2``: Optuna's NSGA-II on the three-objective study (accuracy, params, MACs);
- ``uniform``: hand scaling, the uniform family (MobileNetV2's widths 0.25, 0.35, 0.5, 0.75 and
  1.0 at depth 1.0; for ResNet the uniform space's widths), each trained once.

Per seed and method it records the hypervolume of the front over validation accuracy, params and
MACs, the best feasible NetScore, epochs and wall time; then means, standard deviations and
per-seed wins, and each front's test accuracy (measured once, at the end of each run, for the
front's models only). The hypervolume is computed on normalised objectives, all minimised:
error ``(100 - accuracy) / 100``, and ``log(params)`` and ``log(MACs)`` scaled to [0, 1] between
the smallest and the largest network of the two spaces compared, with reference point
(1, 1, 1); 1 is the volume of the whole box. Writes ``results/bench_search.json`` and
``results/bench_search_fronts.png`` (the fronts of the first seed side by side).

    python experiments/bench_search.py [--seeds 0 1 2 3 4] [--space mobilenet] [--data embedded]
        [--train-limit 2000] [--epochs 3] [--min-accuracy 75] [--methods nsearch random ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import moocore
import numpy as np

import nsearch
from nsearch.search import (
    SearchSettings,
    TrialRecord,
    best_feasible,
    create_study,
    default_study_name,
    front,
    run_study,
)
from nsearch.search_spaces import get_space

RESULTS = Path(__file__).parent / "results"
UNIFORM_WIDTHS = {"mobilenet": (0.25, 0.35, 0.5, 0.75, 1.0), "resnet": (0.125, 0.25, 0.375, 0.5)}
# Each method: the settings it changes from nsearch's defaults (space: the --space family).
METHODS: dict[str, dict[str, Any]] = {
    "nsearch": {},
    "random": {"sampler": "random", "pruner": "none"},
    "nsga2": {"objective": "pareto", "sampler": "nsga2"},
    "uniform": {"sampler": "random", "pruner": "none"},  # the hand-scaled family, queued
    # Candidates for nsearch's default (train strategy), measured before choosing it:
    "tpe-median": {"sampler": "tpe", "pruner": "median"},
    "cost-tpe-median": {"sampler": "cost-tpe", "pruner": "median"},
    "cost-tpe-halving": {"sampler": "cost-tpe", "pruner": "halving"},
    # The supernet strategy, given the wall-clock time nsearch's run of the same seed took.
    "supernet": {"strategy": "supernet"},
}
DEFAULT_METHODS = ("nsearch", "random", "nsga2", "uniform")


@dataclasses.dataclass(frozen=True)
class Bounds:
    """Log-scale normalisation of params and MACs: the cheapest and dearest networks compared."""

    params: tuple[float, float]
    macs: tuple[float, float]

    def normalise(self, record: TrialRecord) -> list[float]:
        def scaled(value: float, low_high: tuple[float, float]) -> float:
            low, high = low_high
            return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))

        return [
            (100.0 - float(record.accuracy_percent)) / 100.0,
            scaled(float(record.params), self.params),
            scaled(float(record.macs), self.macs),
        ]


def bounds_of(family: str, data: Any) -> Bounds:
    costs = []
    for name in (family, f"{family}-uniform"):
        space = get_space(name)
        for config in (space.smallest, space.largest):
            args = {"in_channels": data.in_channels, "num_classes": data.num_classes,
                    "input_size": data.input_size}  # fmt: skip
            model = space.build(config, **args)
            costs.append(nsearch.count_complexity(model, data.input_shape))
    return Bounds((min(c.params for c in costs), max(c.params for c in costs)),
                  (min(c.macs for c in costs), max(c.macs for c in costs)))  # fmt: skip


def hypervolume(records: list[TrialRecord], bounds: Bounds) -> float:
    points = [bounds.normalise(r) for r in records]
    inside = [p for p in points if all(v < 1.0 for v in p)]
    return float(moocore.hypervolume(np.array(inside), ref=[1.0, 1.0, 1.0])) if inside else 0.0


def settings_for(method: str, args: argparse.Namespace, seed: int,
                 seconds: float | None = None) -> SearchSettings:  # fmt: skip
    common = {"data": args.data, "train_limit": args.train_limit, "epochs": args.epochs,
              "seed": seed, "min_accuracy": args.min_accuracy, "timeout": None, "trials": 1000,
              "epoch_budget": args.epochs * len(UNIFORM_WIDTHS[args.space])}  # fmt: skip
    if method == "uniform":
        return SearchSettings(space=f"{args.space}-uniform", **{**common, **METHODS[method],
                              "trials": len(UNIFORM_WIDTHS[args.space])})  # fmt: skip
    if method == "supernet":  # equal wall-clock: a quarter of it left for the confirmations
        assert seconds is not None, "the supernet method runs after nsearch's run of its seed"
        common = {**common, "epoch_budget": None, "timeout": 0.75 * seconds}
    return SearchSettings(space=args.space, **{**common, **METHODS[method]})


def run_method(method: str, args: argparse.Namespace, seed: int, out: Path,
               seconds: float | None = None) -> dict[str, Any]:  # fmt: skip
    settings = settings_for(method, args, seed, seconds)
    if method == "uniform":  # the hand-scaled family, queued as the study's trials
        storage = f"sqlite:///{(out / 'study.db').resolve()}"
        out.mkdir(parents=True)
        study = create_study(settings, storage, default_study_name(settings))
        for width in UNIFORM_WIDTHS[args.space]:
            study.enqueue_trial({"width": width, "depth": 1.0})
    start = time.perf_counter()
    result = run_study(settings, out, progress=False)
    seconds = time.perf_counter() - start
    return {"settings": settings, "records": result.records, "front": result.front,
            "best": result.best, "seconds": seconds, "out": out}  # fmt: skip


def summarise(run: dict[str, Any], bounds: Bounds, fraction: float) -> dict[str, Any]:
    """The run's figures at the end, and after ``fraction`` of its epoch budget."""
    records: list[TrialRecord] = run["records"]
    settings: SearchSettings = run["settings"]
    budget = settings.epoch_budget or 0
    early, spent = [], 0
    for record in records:  # trial order: the records a run had after spending that many epochs
        if spent + record.epochs_trained > fraction * budget:
            break
        spent += record.epochs_trained
        early.append(record)
    best, best_early = run["best"], best_feasible(early, settings.selection)
    return {
        "hypervolume": hypervolume(run["front"], bounds),
        "best_feasible_netscore": best.netscore if best else None,
        "epochs": sum(r.epochs_trained for r in records),
        "seconds": round(run["seconds"], 1),
        "trials": len(records),
        f"hypervolume_at_{fraction:g}_budget": hypervolume(
            front(early, settings.selection), bounds
        ),
        f"best_feasible_netscore_at_{fraction:g}_budget": (
            best_early.netscore if best_early else None
        ),
        "front": [
            {"trial": r.trial, "architecture": dict(r.architecture),
             "accuracy_percent": r.accuracy_percent, "test_accuracy_percent":
             r.test_accuracy_percent, "test_ci95": [r.test_ci_low, r.test_ci_high],
             "params": r.params, "macs": r.macs, "netscore": r.netscore}
            for r in run["front"]
        ],
    }  # fmt: skip


def beats_uniform(nsearch_front: list[dict[str, Any]], uniform_front: list[dict[str, Any]],
                  uniform_all: list[TrialRecord]) -> list[dict[str, Any]]:  # fmt: skip
    """For each hand-scaled model: does nsearch's front hold one at least as accurate on the test
    split (within that model's interval) with at most 80 % of its MACs?"""
    tested = {r["trial"]: r for r in uniform_front}
    verdicts = []
    for u in uniform_all:
        if not u.complete:
            continue
        u_test = tested.get(u.trial, {}).get("test_accuracy_percent")
        match = [
            m for m in nsearch_front
            if m["macs"] <= 0.8 * float(u.macs or 0) and m["test_accuracy_percent"] is not None
            and u_test is not None and m["test_ci95"][1] >= u_test
        ]  # fmt: skip
        verdicts.append({"uniform_trial": u.trial, "width": u.architecture.get("width"),
                         "test_accuracy_percent": u_test, "macs": u.macs,
                         "met": bool(match), "by": [m["trial"] for m in match]})  # fmt: skip
    return verdicts


def plot_fronts(path: Path, runs: dict[str, dict[str, Any]], seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 4), sharey=True)
    for ax, (method, run) in zip(np.atleast_1d(axes), runs.items()):
        done = [r for r in run["records"] if r.complete]
        ax.scatter([r.gmacs for r in done], [r.accuracy_percent for r in done], s=12,
                   color="grey", alpha=0.5, label="trials")  # fmt: skip
        chosen = sorted(run["front"], key=lambda r: r.gmacs)
        ax.errorbar([r.gmacs for r in chosen], [r.accuracy_percent for r in chosen],
                    yerr=[[r.accuracy_percent - r.accuracy_ci_low for r in chosen],
                          [r.accuracy_ci_high - r.accuracy_percent for r in chosen]],
                    fmt="o-", color="crimson", capsize=2, label="front")  # fmt: skip
        ax.set_xscale("log")
        ax.set_title(f"{method} (seed {seed})")
        ax.set_xlabel("GMACs per image")
        ax.grid(True, alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("validation accuracy (%)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--space", choices=sorted(UNIFORM_WIDTHS), default="mobilenet")
    parser.add_argument("--data", default="embedded", help="nsearch's --data.")
    parser.add_argument("--train-limit", type=int, default=2000, help="Training images.")
    parser.add_argument("--epochs", type=int, default=3, help="Epochs per trial.")
    parser.add_argument("--min-accuracy", type=float, default=75.0, help="Floor, percent.")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS),
                        default=list(DEFAULT_METHODS))  # fmt: skip
    parser.add_argument(
        "--early",
        type=float,
        default=0.6,
        help="Also report each method at this fraction of the epoch budget.",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from nsearch.data import ImageDataModule

    data = ImageDataModule(args.data, seed=0, train_limit=args.train_limit)
    data.setup()
    bounds = bounds_of(args.space, data)
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in args.methods}
    uniform_checks = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            runs = {}
            for method in args.methods:
                nsearch_seconds = runs["nsearch"]["seconds"] if "nsearch" in runs else None
                runs[method] = run_method(method, args, seed, Path(folder) / f"{method}-{seed}",
                                          nsearch_seconds)  # fmt: skip
                summary = {"seed": seed, **summarise(runs[method], bounds, args.early)}
                results[method].append(summary)
                print(f"seed {seed} {method:8s} hypervolume {summary['hypervolume']:.4f} best "
                      f"feasible NetScore {summary['best_feasible_netscore']} epochs "
                      f"{summary['epochs']} trials {summary['trials']} {summary['seconds']} s",
                      flush=True)  # fmt: skip
            if "nsearch" in runs and "uniform" in runs:
                check = beats_uniform(
                    results["nsearch"][-1]["front"],
                    results["uniform"][-1]["front"],
                    runs["uniform"]["records"],
                )
                uniform_checks.append({"seed": seed, "models": check})  # fmt: skip
            if seed == args.seeds[0]:
                plot_fronts(args.out / "bench_search_fronts.png", runs, seed)
            write_report(args, results, uniform_checks, bounds)  # after every seed: nothing lost
    print(json.dumps(compare(results, args.early), indent=2))


def write_report(args: argparse.Namespace, results: dict[str, list[dict[str, Any]]],
                 uniform_checks: list[dict[str, Any]], bounds: Bounds) -> None:  # fmt: skip
    report = {"methods": results, "summary": compare(results, args.early),
              "uniform_goal": uniform_checks, "bounds": dataclasses.asdict(bounds),
              "reference_point": [1.0, 1.0, 1.0],
              "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "machine": nsearch.cost.machine_description()}  # fmt: skip
    (args.out / "bench_search.json").write_text(json.dumps(report, indent=2) + "\n")


def compare(results: dict[str, list[dict[str, Any]]], fraction: float) -> dict[str, Any]:
    """Means, standard deviations, and nsearch's per-seed wins against each other method: at the
    full budget, and with nsearch stopped at ``fraction`` of it against the other's full budget."""

    def stats(values: list[float | None]) -> dict[str, float | int | None]:
        present = [v for v in values if v is not None]
        return {"mean": statistics.mean(present) if present else None,
                "std": statistics.stdev(present) if len(present) > 1 else None,
                "runs_with_a_value": len(present)}  # fmt: skip

    summary: dict[str, Any] = {}
    for method, runs in results.items():
        keys = ("hypervolume", "best_feasible_netscore", "epochs", "seconds")
        summary[method] = {key: stats([r[key] for r in runs]) for key in keys}
    if "nsearch" in results:
        ours = {r["seed"]: r for r in results["nsearch"]}
        for method, runs in results.items():
            if method == "nsearch":
                continue
            for mine_at in ("", f"_at_{fraction:g}_budget"):
                wins = {"hypervolume": 0, "best_feasible_netscore": 0, "both": 0,
                        "seeds": len(runs)}  # fmt: skip
                for theirs in runs:
                    mine = ours.get(theirs["seed"])
                    if mine is None:
                        continue
                    hv = mine[f"hypervolume{mine_at}"] >= theirs["hypervolume"]
                    score = (mine[f"best_feasible_netscore{mine_at}"] or -math.inf) >= (
                        theirs["best_feasible_netscore"] or -math.inf)  # fmt: skip
                    wins["hypervolume"] += hv
                    wins["best_feasible_netscore"] += score
                    wins["both"] += hv and score
                summary[f"nsearch{mine_at}_vs_{method}_wins"] = wins
    return summary


if __name__ == "__main__":
    main()
