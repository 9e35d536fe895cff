"""nsearch's default search (TPE + pruning) against random search without pruning.

Equal trial budgets, several seeds, the same space, data and accuracy floor. For each run it
reports the best feasible NetScore and the epochs trained; it prints the averages and the ratio of
epochs, and writes ``results/bench_search.json``. Goal: nsearch's best feasible NetScore at least
random search's on average, with at most 60% of its epochs.

To fit a two-core machine the trials are short: 3,000 training images, at most 4 epochs.

    python experiments/bench_search.py [--seeds 0 1 2] [--trials 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from nsearch.search import SearchSettings, run_study

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="Seeds to run.")
    parser.add_argument("--trials", type=int, default=8, help="Trials per search.")
    parser.add_argument("--epochs", type=int, default=4, help="Most epochs per trial.")
    parser.add_argument("--train-limit", type=int, default=3000, help="Training images.")
    parser.add_argument("--min-accuracy", type=float, default=78.0, help="Accuracy floor (%%).")
    parser.add_argument("--space", default="mobilenet", help="The search space.")
    args = parser.parse_args()
    methods = {
        "nsearch": {"sampler": "tpe", "pruning": True},
        "random": {"sampler": "random", "pruning": False},
    }
    runs: dict[str, list[dict[str, float | None]]] = {name: [] for name in methods}
    for seed in args.seeds:
        for name, options in methods.items():
            settings = SearchSettings(space=args.space, trials=args.trials, epochs=args.epochs,
                                      seed=seed, timeout=None, min_accuracy=args.min_accuracy,
                                      train_limit=args.train_limit, **options)  # fmt: skip
            with tempfile.TemporaryDirectory() as out:
                result = run_study(settings, out, progress=False)
            best = result.best["netscore"] if result.best else None
            epochs = sum(row["epochs_trained"] for row in result.rows)
            runs[name].append({"seed": seed, "best_feasible_netscore": best, "epochs": epochs})
            print(f"seed {seed} {name:8s} best feasible NetScore {best}, {epochs} epochs",
                  flush=True)  # fmt: skip

    def mean(name: str, key: str) -> float:
        values = [r[key] for r in runs[name]]
        return statistics.mean(v if v is not None else 0.0 for v in values)

    summary = {
        name: {"mean_best_feasible_netscore": mean(name, "best_feasible_netscore"),
               "mean_epochs": mean(name, "epochs")}
        for name in methods
    }  # fmt: skip
    epoch_ratio = summary["nsearch"]["mean_epochs"] / summary["random"]["mean_epochs"]
    best = {name: s["mean_best_feasible_netscore"] for name, s in summary.items()}
    print(
        f"mean best feasible NetScore: nsearch {best['nsearch']:.2f}, random {best['random']:.2f}"
    )
    print(f"epochs nsearch / random: {epoch_ratio:.3f} (goal <= 0.6)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_search.json").write_text(json.dumps(
        {"runs": runs, "summary": summary, "epoch_ratio": epoch_ratio, "settings": vars(args)},
        indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
