"""``python -m nsearch.run``: search a space for networks that balance accuracy, size and MACs.

Examples::

    python -m nsearch.run --space mobilenet
    python -m nsearch.run --space resnet --min-accuracy 88 --max-params 0.5 --out runs/resnet
    python -m nsearch.run --space mobilenet --objective pareto --trials 40 --timeout 3600

Every search setting's option is derived from :class:`~nsearch.search.settings.SearchSettings`,
where each is declared once with its help text.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from nsearch._cli import Parser, argparse_type
from nsearch.search.options import Option
from nsearch.search.settings import SearchSettings

DEFAULTS = SearchSettings()


def add_settings(parser: argparse.ArgumentParser) -> None:
    """One option per field of :class:`SearchSettings`, with its declared help and checks."""
    for f in dataclasses.fields(SearchSettings):
        option: Option = f.metadata["option"]
        flag = "--" + f.name.replace("_", "-")
        default = getattr(DEFAULTS, f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=option.help)  # fmt: skip
            continue
        kwargs: dict[str, Any] = {"default": default, "help": option.help}
        if option.choices is not None:
            kwargs["choices"] = option.choices()
        if option.parse is not None:
            kwargs["type"] = argparse_type(option.parse)
        parser.add_argument(flag, **kwargs)


def parser() -> argparse.ArgumentParser:
    p = Parser(
        "nsearch",
        prog="python -m nsearch.run",
        description="Search a MobileNet- or ResNet-style space with Optuna for the networks that "
        "balance accuracy against parameters and multiply-accumulates (NetScore), and write "
        "the Pareto front, plots and a report.",
    )
    add_settings(p)
    p.add_argument("--out", type=Path, default=Path("nsearch-out"),
                   help="The folder for the study database, checkpoints, tables and plots; "
                   "running again with the same folder resumes its study.")  # fmt: skip
    p.add_argument("--study-name", default=None,
                   help="The Optuna study's name; by default one made of space, data and "
                   "objective, or the one the --out folder already holds.")  # fmt: skip
    p.add_argument("--storage", default=None,
                   help="An Optuna storage URL; by default a SQLite file inside --out (a journal "
                   "file with several workers), so running the same command again resumes the "
                   "study.")  # fmt: skip
    p.add_argument("--no-progress", action="store_true",
                   help="Do not show the study's progress bar.")  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from nsearch.search.runner import run_study  # Lightning and the training code, not for --help

    names = [f.name for f in dataclasses.fields(SearchSettings)]
    try:
        settings = SearchSettings(**{name: getattr(args, name) for name in names})
        result = run_study(settings, args.out, storage=args.storage, study_name=args.study_name,
                           progress=not args.no_progress)  # fmt: skip
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
        print(f"\nBest feasible NetScore: trial {best.trial} ({best.netscore:.2f} dB).")
        print(f"Report: {result.out / 'report.md'}")
    else:
        print(f"\nNo trial reached --min-accuracy {settings.min_accuracy:g} %.")
    if result.interrupted:
        print("Interrupted: the finished trials are saved and reported.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
