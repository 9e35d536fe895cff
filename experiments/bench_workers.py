"""Completed trials per hour with one and with two workers on the same budget.

Runs the same short study (mobilenet on the embedded data, 1,500 training images, 2 epochs per
trial, no pruning) for a fixed wall-clock budget, once with one worker and once with two workers
sharing a journal file; prints completed trials per hour for each and their ratio, and writes
``results/bench_workers.json``. With two workers each gets half of the CPU threads.

    python experiments/bench_workers.py [--seconds 240]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from optuna.trial import TrialState

from nsearch.search import SearchSettings, run_study

RESULTS = Path(__file__).parent / "results"


def trials_per_hour(workers: int, seconds: float) -> tuple[float, int, float]:
    settings = SearchSettings(trials=1000, timeout=seconds, epochs=2, train_limit=1500, rungs="",
                              min_accuracy=5.0, workers=workers, pruner="none")  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = run_study(settings, out, progress=False)
        elapsed = time.perf_counter() - start
        complete = len(result.study.get_trials(states=(TrialState.COMPLETE,)))
    return 3600 * complete / elapsed, complete, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=240, help="Budget for each setting.")
    args = parser.parse_args()
    results = {}
    for workers in (1, 2):
        rate, complete, elapsed = trials_per_hour(workers, args.seconds)
        results[workers] = {"trials_per_hour": rate, "complete": complete, "seconds": elapsed}
        print(f"{workers} worker(s): {complete} trials in {elapsed:.0f} s = {rate:.0f} per hour",
              flush=True)  # fmt: skip
    ratio = results[2]["trials_per_hour"] / results[1]["trials_per_hour"]
    print(f"two workers / one worker: {ratio:.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_workers.json").write_text(
        json.dumps({"results": results, "ratio": ratio, "budget_seconds": args.seconds}, indent=2)
    )


if __name__ == "__main__":
    main()
