"""``python -m nsearch.finalize``: train a picked architecture properly and package it for a device.

Examples::

    python -m nsearch.finalize --out nsearch-out --rank 1       # the most accurate on the front
    python -m nsearch.finalize --out nsearch-out --trial 12 --epochs 30

Rebuilds the trial's architecture, trains it from scratch on the training and validation images
(the validation split has done its work: choosing), measures test accuracy with its Wilson
interval, and writes ``OUT/final/trial_NNNN/`` (:func:`nsearch.deployment.finalize`): every model
file checked on every test image by the runtime that runs it, with its latency there, and
``config.json`` and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import sys

from nsearch._cli import (
    Parser,
    add_file_options,
    add_trial_choice,
    argparse_type,
    print_bundle,
)
from nsearch.deployment.final_training import DEFAULT_EPOCHS, finalize
from nsearch.search.options import positive_int

__all__ = ["DEFAULT_EPOCHS", "finalize", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        "nsearch.finalize",
        prog="python -m nsearch.finalize",
        description="Train a picked architecture from scratch on training + validation data, "
        "measure its test accuracy and latency, and write the files a device team takes away.",
    )
    add_trial_choice(parser, "finalize", "final")
    parser.add_argument("--epochs", type=argparse_type(positive_int), default=DEFAULT_EPOCHS,
                        help="Training epochs.")  # fmt: skip
    parser.add_argument("--train-limit", type=argparse_type(positive_int), default=None,
                        help="Train on at most this many images, for a quick check.")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    add_file_options(parser)
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    raise SystemExit(main())
