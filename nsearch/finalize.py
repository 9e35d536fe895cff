"""``python -m nsearch.finalize``: train a picked architecture properly and package it for a device.

Examples::

    python -m nsearch.finalize --out nsearch-out --rank 1       # the most accurate on the front
    python -m nsearch.finalize --out nsearch-out --trial 12 --epochs 30
    python -m nsearch.finalize --out nsearch-out --front --top 5  # the front's first five

Rebuilds the trial's architecture, trains it from scratch on the training and validation images
(the validation split has done its work: choosing), measures test accuracy with its Wilson
interval, and writes ``OUT/final/trial_NNNN/`` (:func:`nsearch.deployment.finalize`): every model
file checked on every test image by the runtime that runs it, with its latency there, and
``config.json`` and ``MODEL_CARD.md``.

``--front`` does so for every model of the front (or its first ``--top K``), one after another,
skipping those already finished, and writes ``OUT/final_front.csv`` and a section of
``OUT/report.md`` (:func:`nsearch.deployment.front.finalize_front`).
"""

from __future__ import annotations

import argparse
import sys

from nsearch._cli import (
    Parser,
    add_file_options,
    add_trial_choice,
    argparse_type,
    print_bundle,
)
from nsearch.deployment.final_training import DEFAULT_EPOCHS, finalize
from nsearch.deployment.front import CSV_FILE, FrontRow, finalize_front
from nsearch.search.options import positive_int

__all__ = ["DEFAULT_EPOCHS", "finalize", "finalize_front", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        "nsearch.finalize",
        prog="python -m nsearch.finalize",
        description="Train a picked architecture from scratch on training + validation data, "
        "measure its test accuracy and latency, and write the files a device team takes away.",
    )
    which = add_trial_choice(parser, "finalize", "final")
    which.add_argument("--front", action="store_true",
                       help="Every model on the Pareto front, one after another (those already "
                       "finished are read back, not trained again).")  # fmt: skip
    parser.add_argument("--top", type=argparse_type(positive_int), default=None,
                        help="With --front: only the front's first K models.")  # fmt: skip
    parser.add_argument("--epochs", type=argparse_type(positive_int), default=DEFAULT_EPOCHS,
                        help="Training epochs.")  # fmt: skip
    parser.add_argument("--train-limit", type=argparse_type(positive_int), default=None,
                        help="Train on at most this many images, for a quick check.")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    add_file_options(parser)
    args = parser.parse_args(argv)
    if args.top is not None and not args.front:
        parser.error("argument --top: only goes with --front.")
    if args.front and args.dest is not None:
        parser.error("argument --dest: not allowed with --front (each model is written to "
                     "OUT/final/trial_NNNN).")  # fmt: skip
    if args.front:
        return _front(args)
    try:
        bundle = finalize(args.out, trial=args.trial, rank=args.rank, epochs=args.epochs,
                          dest=args.dest, train_limit=args.train_limit,
                          progress=not args.no_progress, quantize=args.quantize,
                          calibration_images=args.calibration_images,
                          formats=args.formats)  # fmt: skip
    except (ValueError, FileNotFoundError) as error:
        print(f"nsearch.finalize: error: {error}", file=sys.stderr)
        return 2
    d = bundle.description
    assert d.test is not None and d.netscore_db is not None
    low, high = d.test.interval
    print(f"Test accuracy {d.test.percent:.2f} % ({low:.2f}-{high:.2f} %, {d.test.images:,} "
          f"images); NetScore {d.netscore_db:.2f} dB.")  # fmt: skip
    print_bundle(bundle)
    print(f"Wrote {bundle.folder} (start with MODEL_CARD.md).")
    return 0


def _front(args: argparse.Namespace) -> int:
    """``--front``: train the front, or what of it is not finished yet."""
    try:
        rows = finalize_front(args.out, top=args.top, epochs=args.epochs,
                              train_limit=args.train_limit, progress=not args.no_progress,
                              quantize=args.quantize, calibration_images=args.calibration_images,
                              formats=args.formats)  # fmt: skip
    except (ValueError, FileNotFoundError) as error:
        print(f"nsearch.finalize: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nsearch.finalize: interrupted; the models finished so far are kept in "
              f"{args.out / 'final'}, and the same command trains only the rest.",
              file=sys.stderr)  # fmt: skip
        return 130
    for r in rows:
        print(_row_line(r))
    print(f"Wrote {args.out / CSV_FILE} and the section \"Final training of the front\" of "
          f"{args.out / 'report.md'}.")  # fmt: skip
    return 0


def _row_line(r: FrontRow) -> str:
    low, high = r.test.interval
    verdict = "best feasible" if r.best_final else "feasible" if r.feasible_final else "infeasible"
    how = "read back" if r.read_back else "trained"
    return (f"Rank {r.rank}, trial {r.trial} ({how}): test accuracy {r.test.percent:.2f} % "
            f"({low:.2f}-{high:.2f} %), NetScore {r.netscore_final_db:.2f} dB, {verdict}; "
            f"{r.folder}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
