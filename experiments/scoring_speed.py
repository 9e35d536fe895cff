"""How many sub-networks does ``--strategy supernet`` score in ten minutes?

Runs the search as a user would (``run_study`` with ``--strategy supernet``: the supernet is
trained, or loaded from ``--out`` where an earlier run left it), then reads each estimated trial's
start and end from the study: the time one trial takes (suggest, count params and MACs, measure
latency, extract, recalibrate batch norm, score), and how many trials finished within ten minutes
of the first one's start. The machine's load average is recorded before and after: a busy
machine makes every figure slower. Writes ``results/scoring_speed.json``.

    python experiments/scoring_speed.py [--trials 1000] [--epochs 2] [--train-limit 2000]
        [--threads 2] [--workers 1] [--out /tmp/scoring-speed]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from nsearch.cost import machine_description
from nsearch.search import SearchSettings, run_study

RESULTS = Path(__file__).parent / "results"
WINDOW_SECONDS = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000, help="Sub-networks to score.")
    parser.add_argument("--epochs", type=int, default=2, help="The supernet's epochs.")
    parser.add_argument("--train-limit", type=int, default=2000, help="Training images.")
    parser.add_argument("--space", default="mobilenet")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="CPU threads (default: torch's, here %(default)s).")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1,
                        help="Processes scoring at once (nsearch's --workers; they share the "
                        "threads).")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("/tmp/scoring-speed"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = SearchSettings(space=args.space, strategy="supernet", trials=args.trials,
                              epochs=args.epochs, train_limit=args.train_limit, confirm=1,
                              workers=args.workers, timeout=None, rungs="")  # fmt: skip
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    result = run_study(settings, args.out, progress=False)
    seconds = time.perf_counter() - start
    spans = [(t.datetime_start, t.datetime_complete) for t in result.study.trials
             if t.user_attrs.get("estimate") and t.datetime_start
             and t.datetime_complete]  # fmt: skip
    if not spans:
        parser.error(f"{args.out} holds no estimated trial: nothing was scored.")
    durations = [(end - begin).total_seconds() for begin, end in spans]
    first = min(begin for begin, _ in spans)
    ends = [(end - first).total_seconds() for _, end in spans]
    report = {
        "settings": {**vars(args), "out": str(args.out), "results": str(args.results)},
        "trials_scored": len(spans),
        "seconds_per_trial": {"median": statistics.median(durations),
                              "mean": statistics.mean(durations),
                              "p90": statistics.quantiles(durations, n=10)[-1],
                              "max": max(durations)},  # fmt: skip
        "scoring_wall_seconds": max(ends),
        "scored_within_10_minutes": sum(end <= WINDOW_SECONDS for end in ends),
        "run_seconds": seconds,
        "load_average_before_after": [load_before, os.getloadavg()[0]],
        "machine": machine_description(),
        "torch_threads": torch.get_num_threads(),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "scoring_speed.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "settings"}, indent=2))


if __name__ == "__main__":
    main()
