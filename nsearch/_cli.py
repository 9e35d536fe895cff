"""What nsearch's command-line tools share: one-line errors with exit status 2, and how a written
bundle of model files is reported."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from nsearch.deployment.bundle import Bundle

__all__ = ["Parser", "add_file_options", "add_trial_choice", "argparse_type", "print_bundle"]


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``NAME: error: ...``, and exit status 2."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.name}: error: {message}\n")


def argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A parser that raises ValueError, as an argparse type (its message becomes the error)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = parse.__name__
    return convert


def print_bundle(bundle: Bundle) -> None:
    """The files written, each parity check, and why a file was not written."""
    for name, path in bundle.files.items():
        print(f"{name:16s} {path}")
    for p in bundle.description.parities:
        verdict = "ok" if p.ok else "NOT ok"
        print(f"Parity, {p.runtime}: same class on {p.same_class:,}/{p.n_images:,} images, "
              f"largest logit difference {p.max_abs_diff:.1e} ({verdict}).")  # fmt: skip
    for r in bundle.description.int8:
        low, high = r.test.interval
        told = "can" if r.distinguishable else "cannot"
        print(f"int8 {r.file} ({r.runtime}): test accuracy {r.test.percent:.2f} % "
              f"({low:.2f}-{high:.2f}), top-1 agreement with fp32 "
              f"{100 * r.agreement / r.test.images:.2f} %, {r.size_ratio:.2f}x the fp32 file; "
              f"it {told} be told apart from fp32 on these images.")  # fmt: skip
    for note in bundle.description.notes:
        print(note)


def add_file_options(parser: argparse.ArgumentParser) -> None:
    """``--formats``, ``--quantize`` and ``--calibration-images``, as export and finalize take
    them."""
    from nsearch.deployment.bundle import FORMATS
    from nsearch.deployment.quantization import DEFAULT_CALIBRATION_IMAGES, SCHEMES
    from nsearch.search.options import positive_int

    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS),
                        help="The model files to write and check: pt2 (a torch.export program, "
                        "always), onnx (ONNX Runtime), pte (ExecuTorch with XNNPACK; lowering "
                        "takes 20-40 s).")  # fmt: skip
    parser.add_argument("--quantize", choices=SCHEMES, default=None,
                        help="Also write int8 models (model-int8.pte by PT2E with the XNNPACK "
                        "quantizer, model-int8.onnx by ONNX Runtime's static quantizer), each "
                        "tested on every test image.")  # fmt: skip
    parser.add_argument("--calibration-images", type=argparse_type(positive_int), default=None,
                        help="How many training images (a stratified, seeded subset) calibrate "
                        f"the int8 models; by default {DEFAULT_CALIBRATION_IMAGES}, or all of "
                        "them where there are fewer (config.json notes it). A count larger "
                        "than the training images is refused.")  # fmt: skip


def add_trial_choice(parser: argparse.ArgumentParser, verb: str,
                     folder: str) -> argparse._MutuallyExclusiveGroup:  # fmt: skip
    """``--out``, the trial to ``verb`` (``--trial`` or ``--rank``) and ``--dest``, as export and
    finalize take them; the group of ``--trial`` and ``--rank``, for a tool with another
    choice."""
    from pathlib import Path

    parser.add_argument("--out", type=Path, default=Path("nsearch-out"),
                        help="The --out folder of the search.")  # fmt: skip
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, help=f"The number of the trial to {verb}.")
    which.add_argument("--rank", type=int,
                       help="The rank on the Pareto front, 1 being the most accurate.")  # fmt: skip
    parser.add_argument("--dest", type=Path, default=None,
                        help=f"The folder to write; by default OUT/{folder}/"
                        "trial_NNNN.")  # fmt: skip
    return which
