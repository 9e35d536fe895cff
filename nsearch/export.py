"""``python -m nsearch.export``: write a searched model as files that run without nsearch.

Examples::

    python -m nsearch.export --out nsearch-out --trial 7        # a trial by number
    python -m nsearch.export --out nsearch-out --rank 1         # the most accurate on the front

writes into ``nsearch-out/export/trial_0007/`` the files of
:func:`nsearch.deployment.write_bundle` (``model.pt2``, ``model.onnx``, ``model.pte``,
``weights.pt``, ``config.json``, ``MODEL_CARD.md``), each checked on every test image by the
runtime that runs it. The weights are the search's checkpoint of the trial's best epoch, and
``config.json`` says so; ``python -m nsearch.finalize`` trains a picked architecture properly.
This command does not import Lightning.
"""

from __future__ import annotations

import sys

from nsearch._cli import Parser, add_file_options, add_trial_choice, print_bundle
from nsearch.deployment.search_export import export_trial

__all__ = ["export_trial", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        "nsearch.export",
        prog="python -m nsearch.export",
        description="Export a searched model (its search checkpoint) as a torch.export program, "
        "ONNX, ExecuTorch, weights, config and model card, each checked by its runtime.",
    )
    add_trial_choice(parser, "export", "export")
    add_file_options(parser)
    args = parser.parse_args(argv)
    try:
        bundle = export_trial(args.out, trial=args.trial, rank=args.rank, dest=args.dest,
                              quantize=args.quantize,
                              calibration_images=args.calibration_images,
                              formats=args.formats)  # fmt: skip
    except (ValueError, FileNotFoundError) as error:
        print(f"nsearch.export: error: {error}", file=sys.stderr)
        return 2
    print_bundle(bundle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
