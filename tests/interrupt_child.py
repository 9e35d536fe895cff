"""A search run as a child process that waits at one point of a trial's life, so that a test can
send it SIGINT exactly there.

    python interrupt_child.py POINT MARKER [nsearch.run arguments...]

POINT is ``latency`` (measuring the second trial's latency), ``fit`` (training the second
trial) or ``between`` (after the first trial finished, before the second starts). On reaching
it the child creates the file MARKER and waits, sleeping, for up to $INTERRUPT_CHILD_WAIT seconds
(60 by default), then goes on.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

WAIT = float(os.environ.get("INTERRUPT_CHILD_WAIT", "60"))


def main() -> int:
    point, marker, argv = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    from nsearch import run
    from nsearch.search import trial, workers
    from nsearch.training import classifier

    calls = {"n": 0}

    def wait_on_second(original):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 2:
                marker.touch()
                time.sleep(WAIT)
            return original(*args, **kwargs)

        return wrapper

    if point == "latency":
        trial.measure_latency = wait_on_second(trial.measure_latency)
    elif point == "fit":

        def on_train_epoch_start(self):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 2:
                marker.touch()
                time.sleep(WAIT)

        classifier.Classifier.on_train_epoch_start = on_train_epoch_start
    elif point == "between":  # Optuna's callbacks after a trial: orphans are checked first
        workers.fail_orphaned_trials = wait_on_second(workers.fail_orphaned_trials)
    else:
        raise SystemExit(f"unknown point {point!r}")
    return run.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
