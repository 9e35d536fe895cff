"""Does the search earn its name? nsearch against random search, NSGA-II and hand scaling.

Every method gets the same budget of training epochs (``--epoch-budget``, 60 by default: 20
trials of 3 epochs), on the same space family, data, recipe and seeds:

- ``nsearch``: nsearch's default strategy (its default settings: objective ``netscore``, the
  floor as a 3 dB-per-point penalty);
- ``nsearch-constraint``: the same with the floor as Optuna's trial constraint (``--floor-mode
  constraint``), to choose between the two (it chose ``penalty``: see README);
- ``random``: random search over the same space, without pruning;
- ``nsga2``: Optuna's NSGA-II on the three-objective study (accuracy, params, MACs), population
  4 (five generations in 20 trials);
- ``uniform``: hand scaling, the uniform family: a grid of width and depth multipliers
  (MobileNetV2's widths 0.25, 0.35, 0.5, 0.75 and 1.0 at depths 0.25-1.0; for ResNet the uniform
  space's), as many as the budget trains;
- ``supernet``: ``--strategy supernet`` given the wall-clock time ``nsearch`` took on the seed.

Best feasible NetScore follows the search's floor rule (``--floor-confidence confident``: the
accuracy's 95 % interval must clear the floor).

Per seed and method it records the hypervolume of the front over validation accuracy, params and
MACs, the best feasible NetScore, epochs and wall time; then means, standard deviations and
per-seed wins, and each front's test accuracy (measured once, at the end of each run, for the
front's models only). The hypervolume is computed on normalised objectives, all minimised:
error ``(100 - accuracy) / 100``, and ``log(params)`` and ``log(MACs)`` scaled to [0, 1] between
the smallest and the largest network of the two spaces compared, with reference point
(1, 1, 1); 1 is the volume of the whole box. Writes ``results/bench_search.json`` and
``results/bench_search_fronts.png`` (the fronts of the first seed side by side).

It writes ``bench_search.json`` after every method of every seed, and a second run with the
same ``--out`` and settings goes on where the first stopped (a long run: about 40 minutes a seed
on two cores).

    python experiments/bench_search.py [--seeds 0 1 2 3 4] [--space mobilenet] [--data embedded]
        [--train-limit 2000] [--epochs 3] [--epoch-budget 60] [--min-accuracy 75]
        [--methods nsearch random ...]
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
    open_run,
    run_study,
    test_front,
)
from nsearch.search_spaces import get_space

RESULTS = Path(__file__).parent / "results"
UNIFORM_GRID = {
    "mobilenet": {"width": (0.25, 0.35, 0.5, 0.75, 1.0), "depth": (1.0, 0.75, 0.5, 0.25)},
    "resnet": {"width": (0.125, 0.25, 0.375, 0.5), "depth": (1.0, 0.5, 1.5)},
}
# Each method: the settings it changes from nsearch's defaults (space: the --space family).
METHODS: dict[str, dict[str, Any]] = {
    "nsearch": {},
    "nsearch-constraint": {"floor_mode": "constraint"},
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
DEFAULT_METHODS = ("nsearch", "nsearch-constraint", "random", "nsga2", "uniform", "supernet")


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
              "epoch_budget": args.epoch_budget, "rungs": ""}  # fmt: skip
    if method == "uniform":
        return SearchSettings(space=f"{args.space}-uniform", **{**common, **METHODS[method],
                              "trials": len(uniform_grid(args))})  # fmt: skip
    if method == "supernet":  # equal wall-clock: a quarter of it left for the confirmations
        assert seconds is not None, "the supernet method runs after nsearch's run of its seed"
        common = {**common, "epoch_budget": None, "timeout": 0.75 * seconds}
    return SearchSettings(space=args.space, **{**common, **METHODS[method]})


def uniform_grid(args: argparse.Namespace) -> list[dict[str, float]]:
    """The hand-scaled family, widest depth first, as many members as the budget trains."""
    grid = UNIFORM_GRID[args.space]
    members = [{"width": w, "depth": d} for d in grid["depth"] for w in grid["width"]]
    return members[: max(1, args.epoch_budget // args.epochs)]


def run_method(method: str, args: argparse.Namespace, seed: int, out: Path,
               seconds: float | None = None) -> dict[str, Any]:  # fmt: skip
    settings = settings_for(method, args, seed, seconds)
    if method == "uniform":  # the hand-scaled family, queued as the study's trials
        storage = f"sqlite:///{(out / 'study.db').resolve()}"
        out.mkdir(parents=True)
        study = create_study(settings, storage, default_study_name(settings))
        for params in uniform_grid(args):
            study.enqueue_trial(params)
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
        "front": [_model(r) for r in run["front"]],
    }


def beats_uniform(nsearch_front: list[dict[str, Any]],
                  uniform_models: list[dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
    """For each hand-scaled model (all tested): does nsearch's front hold one at least as
    accurate on the test split (within that model's interval) with at most 80 % of its MACs?"""
    verdicts = []
    for u in uniform_models:
        u_test = u["test_accuracy_percent"]
        match = [
            m for m in nsearch_front
            if m["macs"] <= 0.8 * float(u["macs"] or 0) and m["test_accuracy_percent"] is not None
            and u_test is not None and m["test_ci95"][1] >= u_test
        ]  # fmt: skip
        verdicts.append({"uniform_trial": u["trial"], "architecture": u["architecture"],
                         "test_accuracy_percent": u_test, "macs": u["macs"],
                         "met": bool(match), "by": [m["trial"] for m in match]})  # fmt: skip
    return verdicts


def test_everything(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Every complete trial of a run with its test accuracy (the uniform family: all tested)."""
    result = open_run(run["out"])
    done = [r for r in run["records"] if r.complete]
    data = result_data(result.info.settings)
    tested = test_front(run["out"], done, result.info, data.test_dataloader())
    return [_model(r) for r in tested]


def result_data(s: SearchSettings) -> Any:
    """The data module a run's settings describe, set up."""
    from nsearch.data import ImageDataModule

    data = ImageDataModule(s.data, s.data_dir, seed=s.seed, train_limit=s.train_limit)
    data.setup()
    return data


def _model(r: TrialRecord) -> dict[str, Any]:
    return {"trial": r.trial, "architecture": dict(r.architecture),
            "accuracy_percent": r.accuracy_percent, "test_accuracy_percent":
            r.test_accuracy_percent, "test_ci95": [r.test_ci_low, r.test_ci_high],
            "params": r.params, "macs": r.macs, "netscore": r.netscore}  # fmt: skip


def plot_fronts(path: Path, results: dict[str, list[dict[str, Any]]]) -> None:
    """Each method's front (validation accuracy against MACs; it is non-dominated over params
    too) on the first seed every method has run, from the results: the same figure whichever
    sittings measured them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted((m for m, runs in results.items() if runs),
                     key=lambda m: list(METHODS).index(m) if m in METHODS else len(METHODS))
    seeds = [{r["seed"] for r in results[m]} for m in methods]
    common = set.intersection(*seeds) if seeds else set()
    if not common:
        return
    seed = min(common)
    fig, axes = plt.subplots(1, len(methods), figsize=(4 * len(methods), 4), sharex=True,
                             sharey=True)  # fmt: skip
    for ax, method in zip(np.atleast_1d(axes), methods):
        run = next(r for r in results[method] if r["seed"] == seed)
        chosen = sorted(run["front"], key=lambda m: m["macs"])
        # a front over params too: no line between its points
        ax.plot([m["macs"] / 1e9 for m in chosen], [m["accuracy_percent"] for m in chosen],
                "o", color="crimson")  # fmt: skip
        ax.set_xscale("log")
        ax.set_title(f"{method} (seed {seed})")
        ax.set_xlabel("GMACs per image")
        ax.grid(True, alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("validation accuracy (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--space", choices=sorted(UNIFORM_GRID), default="mobilenet")
    parser.add_argument("--data", default="embedded", help="nsearch's --data.")
    parser.add_argument("--train-limit", type=int, default=2000, help="Training images.")
    parser.add_argument("--epochs", type=int, default=3, help="Epochs per trial.")
    parser.add_argument("--epoch-budget", type=int, default=60,
                        help="Training epochs every method gets (a study stops starting trials "
                        "once it has spent them).")  # fmt: skip
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
    data = result_data(settings_for("nsearch", args, 0))
    bounds = bounds_of(args.space, data)
    results, uniform_checks = resume(args)
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            runs = {}
            for method in args.methods:
                if any(r["seed"] == seed for r in results[method]):
                    continue  # measured in an earlier sitting
                nsearch_seconds = next((r["seconds"] for r in results.get("nsearch", [])
                                        if r["seed"] == seed), None)  # fmt: skip
                runs[method] = run_method(method, args, seed, Path(folder) / f"{method}-{seed}",
                                          nsearch_seconds)  # fmt: skip
                summary = {"seed": seed, **summarise(runs[method], bounds, args.early)}
                if method == "uniform":
                    summary["models"] = test_everything(runs[method])
                results[method].append(summary)
                print(f"seed {seed} {method:16s} hypervolume {summary['hypervolume']:.4f} best "
                      f"feasible NetScore {summary['best_feasible_netscore']} epochs "
                      f"{summary['epochs']} trials {summary['trials']} {summary['seconds']} s",
                      flush=True)  # fmt: skip
                checked = {c["seed"] for c in uniform_checks}
                ours = [r for r in results.get("nsearch", []) if r["seed"] == seed]
                theirs = [r for r in results.get("uniform", []) if r["seed"] == seed]
                if ours and theirs and seed not in checked:
                    uniform_checks.append(
                        {"seed": seed, "models": beats_uniform(ours[0]["front"],
                                                               theirs[0]["models"])}
                    )  # fmt: skip
                write_report(args, results, uniform_checks, bounds)  # nothing measured is lost
    plot_fronts(args.out / "bench_search_fronts.png", results)
    print(json.dumps(compare(results, args.early), indent=2))


def resume(args: argparse.Namespace) -> tuple[dict[str, list[dict[str, Any]]], list[Any]]:
    """What an earlier sitting with the same settings measured (seeds and methods aside)."""
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in args.methods}
    path = args.out / "bench_search.json"
    if not path.is_file():
        return results, []
    earlier = json.loads(path.read_text())
    free = ("seeds", "methods", "out")  # what may differ between sittings
    same = {k: v for k, v in earlier["settings"].items() if k not in free}
    now = {k: v for k, v in vars(args).items() if k not in free}
    if same != now:
        print(f"{path} was measured with other settings; starting afresh.", flush=True)
        return results, []
    for method, runs in earlier["methods"].items():
        results.setdefault(method, []).extend(runs)
    return results, list(earlier.get("uniform_goal", []))


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
