"""The claim at final accuracy: does nsearch's pick beat random search and hand scaling once
each is trained by the final recipe, and is its front at least as accurate as hand-scaled
MobileNets of equal MACs?

For each seed of ``--seeds``, three methods get equal compute, final training included: the same
first-rung epoch budget (``--epoch-budget`` epochs on ``--train-limit`` images), the same rungs
(``--rungs``, ``--promote`` trials each) and one final training of the pick:

- ``nsearch``: nsearch's defaults (cost-spread TPE, median pruning) on ``mobilenet``;
- ``random``: random search on ``mobilenet``, no pruning;
- ``uniform``: hand scaling, the ``mobilenet-uniform`` grid of bench_search.py, queued.

Each method's pick (its best feasible trial at the highest fidelity reached) is retrained by
``nsearch.finalize`` (``--final-epochs``) and tested: final NetScore, per-seed wins. Then
nsearch's whole front is finalized (``finalize --front``), and each hand-scaled member of
:data:`fidelity.UNIFORM` trained by the final recipe with the seed (reused from
``fidelity_runs.jsonl`` where the fidelity study trained the same network with the same seed) is
compared with the finalized front model of at most its MACs: the accuracy difference with its
Newcombe 95 % interval, and the MACs ratio at equal accuracy (the member's MACs over those of the
cheapest front model at least as accurate).

Writes ``results/bench_final.json`` after every step; a second run with the same ``--out``
goes on where it stopped. Hours on two cores:

    python experiments/bench_final.py [--seeds 0 1 2] [--epoch-budget 60] [--rungs 15xall]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench_search import uniform_grid
from fidelity import train_at
from fidelity_networks import UNIFORM

from nsearch.core.metrics import difference_interval, netscore_or_inf
from nsearch.deployment.final_training import DEFAULT_EPOCHS, finalize
from nsearch.deployment.front import finalize_front
from nsearch.search import SearchSettings, create_study, default_study_name, run_study
from nsearch.search_spaces import get_space

RESULTS = Path(__file__).parent / "results"
METHODS = {
    "nsearch": {"space": "mobilenet"},
    "random": {"space": "mobilenet", "sampler": "random", "pruner": "none"},
    "uniform": {"space": "mobilenet-uniform", "sampler": "random", "pruner": "none"},
}


def search(method: str, seed: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """One method's search, its pick retrained by the final recipe and tested."""
    grid = uniform_grid(argparse.Namespace(space="mobilenet", epoch_budget=args.epoch_budget,
                                           epochs=args.epochs))  # fmt: skip
    settings = SearchSettings(**METHODS[method], data=args.data, seed=seed, timeout=None,
                              trials=len(grid) if method == "uniform" else 1000,
                              epochs=args.epochs, train_limit=args.train_limit,
                              epoch_budget=args.epoch_budget, rungs=args.rungs,
                              promote=args.promote, min_accuracy=args.min_accuracy)  # fmt: skip
    if method == "uniform" and not out.exists():  # the hand-scaled family, queued
        out.mkdir(parents=True)
        study = create_study(settings, f"sqlite:///{(out / 'study.db').resolve()}",
                             default_study_name(settings))  # fmt: skip
        for params in grid:
            study.enqueue_trial(params)
    result = run_study(settings, out, progress=False)
    pick = result.best
    entry: dict[str, Any] = {"trials": len(result.records),
                             "image_epochs": sum(r.image_epochs for r in result.records)}
    if pick is None:
        return {**entry, "pick": None, "note": "no feasible trial"}
    bundle = finalize(out, trial=pick.trial, epochs=args.final_epochs, progress=False,
                      train_limit=args.final_train_limit, formats=("pt2",))  # fmt: skip
    d = bundle.description
    assert d.test is not None
    return {**entry, "pick": pick.trial, "fidelity": pick.fidelity, "params": d.params,
            "macs": d.macs, "test_correct": d.test.correct, "test_images": d.test.images,
            "test_accuracy_percent": d.test.percent, "final_netscore_db": d.netscore_db}


def uniform_members(seed: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The hand-scaled members trained by the final recipe with ``seed``, reused from the
    fidelity study where it trained the same network with the same seed and epochs."""
    study = args.out / "fidelity_runs.jsonl"
    nets = json.loads((args.out / "fidelity.json").read_text())["architectures"] \
        if (args.out / "fidelity.json").is_file() else []  # fmt: skip
    runs = [json.loads(line) for line in study.read_text().splitlines()] if study.is_file() else []
    members = []
    space = get_space("mobilenet-uniform")
    for width, depth in UNIFORM[: args.uniform]:
        architecture = space.params_of(space.config_from_params({"width": width, "depth": depth}))
        index = next((i for i, n in enumerate(nets) if n["architecture"] == architecture), None)
        run = next((r for r in runs if r["kind"] == "final" and r["net"] == index
                    and r["seed"] == seed and r["epochs"] == args.final_epochs
                    and args.final_train_limit is None), None)  # fmt: skip
        if run is None:
            run = train_at("mobilenet-uniform", architecture, seed=seed, epochs=args.final_epochs,
                           images=args.final_train_limit, final=True, data=args.data)  # fmt: skip
        # the study counted its networks' cost; a member it did not train is counted here
        macs, params = (nets[index]["macs"], nets[index]["params"]) if index is not None \
            else _cost(architecture)  # fmt: skip
        members.append({"width": width, "depth": depth, "params": params, "macs": macs,
                        "test_correct": run["correct"], "test_images": run["eval_images"],
                        "reused": run.get("key") is not None})  # fmt: skip
    return members


def _cost(architecture: dict[str, Any]) -> tuple[int, int]:
    from nsearch.cost import count_complexity

    space = get_space("mobilenet-uniform")
    model = space.build(space.config_from_params(architecture), in_channels=1, num_classes=10,
                        input_size=28)  # fmt: skip
    cost = count_complexity(model, (1, 28, 28))
    return cost.macs, cost.params


def compare(front: list[dict[str, Any]], members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each member against the finalized front model of at most its MACs, and the MACs ratio
    at equal accuracy."""
    rows = []
    for m in members:
        below = [f for f in front if f["macs"] <= m["macs"]]
        row: dict[str, Any] = {"member": f"width {m['width']} depth {m['depth']}",
                               "member_macs": m["macs"],
                               "member_accuracy": 100 * m["test_correct"] / m["test_images"]}
        if below:
            f = max(below, key=lambda r: r["macs"])
            low, high = difference_interval((f["test_correct"], f["test_images"]),
                                            (m["test_correct"], m["test_images"]))  # fmt: skip
            row.update(front_trial=f["trial"], front_macs=f["macs"],
                       front_accuracy=100 * f["test_correct"] / f["test_images"],
                       difference_points=100 * (f["test_correct"] / f["test_images"]
                                                - m["test_correct"] / m["test_images"]),
                       difference_ci95=[low, high])  # fmt: skip
        as_good = [f for f in front if f["test_correct"] / f["test_images"]
                   >= m["test_correct"] / m["test_images"]]  # fmt: skip
        if as_good:
            cheapest = min(as_good, key=lambda r: r["macs"])
            row["macs_ratio_at_equal_accuracy"] = m["macs"] / cheapest["macs"]
        rows.append(row)
    return rows


def summary(state: dict[str, Any]) -> dict[str, Any]:
    wins = {"vs_uniform": 0, "vs_random": 0, "seeds": 0}
    for seed in state["seeds"].values():
        scores = {m: seed.get(m, {}).get("final_netscore_db") for m in METHODS}
        if any(v is None for v in scores.values()):
            continue
        wins["seeds"] += 1
        wins["vs_uniform"] += scores["nsearch"] > scores["uniform"]
        wins["vs_random"] += scores["nsearch"] > scores["random"]
    goal = wins["seeds"] >= 3 and min(wins["vs_uniform"], wins["vs_random"]) >= 2 / 3 * wins[
        "seeds"]  # fmt: skip
    return {**wins, "goal_netscore_met": goal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", default="embedded")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-limit", type=int, default=4000)
    parser.add_argument("--epoch-budget", type=int, default=60)
    defaults = SearchSettings()  # nsearch's own defaults, for every method
    parser.add_argument("--rungs", default=defaults.rungs)
    parser.add_argument("--promote", type=int, default=defaults.promote)
    parser.add_argument("--min-accuracy", type=float, default=defaults.min_accuracy)
    parser.add_argument("--final-epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--final-train-limit", type=int, default=None, help="Tests only.")
    parser.add_argument("--uniform", type=int, default=5, help="Hand-scaled members compared.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    path = args.out / "bench_final.json"
    state = json.loads(path.read_text()) if path.is_file() else {"seeds": {}}
    state["settings"] = {k: str(v) for k, v in vars(args).items() if k != "seeds"}

    def save() -> None:
        state["summary"] = summary(state)
        path.write_text(json.dumps(state, indent=1) + "\n")

    for seed in args.seeds:
        done = state["seeds"].setdefault(str(seed), {})
        for method in METHODS:
            if method not in done:
                folder = args.out / "bench_final" / f"{method}-{seed}"
                done[method] = search(method, seed, args, folder)
                save()
        if "front" not in done:
            rows = finalize_front(args.out / "bench_final" / f"nsearch-{seed}",
                                  epochs=args.final_epochs, progress=False,
                                  train_limit=args.final_train_limit, formats=("pt2",))  # fmt: skip
            done["front"] = [{"trial": r.trial, "macs": r.macs, "params": r.params,
                              "test_correct": r.test.correct, "test_images": r.test.images,
                              "final_netscore_db": netscore_or_inf(r.test.percent,
                                                                   r.params / 1e6, r.macs / 1e9)}
                             for r in rows]  # fmt: skip
            save()
        if "against_uniform" not in done:
            done["against_uniform"] = compare(done["front"], uniform_members(seed, args))
            save()
    save()
    print(json.dumps(state["summary"], indent=1))


if __name__ == "__main__":
    main()
