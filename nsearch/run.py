"""``python -m nsearch.run``: search a space for networks that balance accuracy, size and MACs.

Examples::

    python -m nsearch.run --space mobilenet
    python -m nsearch.run --space resnet --min-accuracy 88 --max-params 0.5 --out runs/resnet
    python -m nsearch.run --space mobilenet --objective pareto --trials 40 --timeout 3600
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nsearch.data import DATASETS
from nsearch.search_spaces import list_spaces
from nsearch.study import OBJECTIVES, SearchSettings, run_study

DEFAULTS = SearchSettings()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"nsearch: error: {message}\n")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m nsearch.run",
        description="Search a MobileNet- or ResNet-style space with Optuna for the networks that "
        "balance accuracy against parameters and multiply-accumulates (NetScore), and write "
        "the Pareto front, plots and a report.",
    )
    p.add_argument(
        "--space",
        choices=list_spaces(),
        default=DEFAULTS.space,
        help="The search space to sample architectures from.",
    )
    p.add_argument(
        "--data",
        choices=DATASETS,
        default=DEFAULTS.data,
        help="The data set; 'embedded' is a Fashion-MNIST subset shipped with nsearch.",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="The folder that holds the data set's files (needed for cifar10 and "
        "imagefolder; optional for fashion-mnist).",
    )
    p.add_argument(
        "--trials",
        type=positive_int,
        default=DEFAULTS.trials,
        help="The study's total number of finished trials, counting those already "
        "done in an earlier run.",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULTS.timeout,
        help="Start no new trial after this many seconds.",
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=DEFAULTS.epochs,
        help="The most epochs one trial trains for.",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULTS.seed,
        help="Seeds the sampler, the validation split and each trial's weights.",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("nsearch-out"),
        help="The folder for the study database, checkpoints, tables and plots.",
    )
    p.add_argument(
        "--study-name",
        default=None,
        help="The Optuna study's name; by default one made of space, data and objective.",
    )
    p.add_argument(
        "--storage",
        default=None,
        help="An Optuna storage URL; by default a SQLite file inside --out, so running "
        "the same command again resumes the study.",
    )
    p.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default=DEFAULTS.objective,
        help="'netscore' maximises NetScore with TPE and pruning; 'pareto' searches "
        "accuracy, params and MACs as three objectives, without pruning.",
    )
    p.add_argument(
        "--min-accuracy",
        type=float,
        default=DEFAULTS.min_accuracy,
        help="The accuracy floor in percent: trials below it are infeasible, whatever "
        "their NetScore.",
    )
    p.add_argument(
        "--max-params",
        type=positive_float,
        default=None,
        help="The most parameters a candidate may have, in millions; larger ones are "
        "never trained.",
    )
    p.add_argument(
        "--max-macs",
        type=positive_float,
        default=None,
        help="The most multiply-accumulates per image a candidate may need, in "
        "billions (GMACs); larger ones are never trained.",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=DEFAULTS.workers,
        help="How many processes on this machine share the study, each with an equal share of "
        "the CPU threads (a journal file in --out is their default storage).",
    )
    p.add_argument(
        "--heartbeat",
        type=positive_int,
        default=DEFAULTS.heartbeat,
        help="Seconds between a running trial's heartbeats on a database storage; a trial "
        "silent for three of them (its worker died) is failed and retried once.",
    )
    p.add_argument(
        "--train-limit",
        type=positive_int,
        default=None,
        help="Train each trial on at most this many images, for quick trials.",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="Do not show the study's progress bar."
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = SearchSettings(
            space=args.space, data=args.data, data_dir=args.data_dir, trials=args.trials,
            timeout=args.timeout, epochs=args.epochs, seed=args.seed, objective=args.objective,
            min_accuracy=args.min_accuracy, max_params=args.max_params, max_macs=args.max_macs,
            train_limit=args.train_limit, workers=args.workers, heartbeat=args.heartbeat,
        )  # fmt: skip
        result = run_study(
            settings,
            args.out,
            storage=args.storage,
            study_name=args.study_name,
            progress=not args.no_progress,
        )
    except (ValueError, OSError) as error:
        print(f"nsearch: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted before any trial finished.", file=sys.stderr)
        return 130
    print(f"\nPareto front of {result.study.study_name} (accuracy vs params vs MACs):\n")
    print(result.table())
    if result.best is not None:
        best = result.best
        print(f"\nBest feasible NetScore: trial {best['trial']} ({best['netscore']:.2f} dB).")
        print(f"Report: {result.out / 'report.md'}")
    else:
        print(f"\nNo trial reached --min-accuracy {settings.min_accuracy:g} %.")
    if result.interrupted:
        print("Interrupted: the finished trials are saved and reported.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
