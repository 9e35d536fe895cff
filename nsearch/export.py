"""``python -m nsearch.export``: write a searched model as files that run without nsearch.

Examples::

    python -m nsearch.export --out nsearch-out --trial 7        # a trial by number
    python -m nsearch.export --out nsearch-out --rank 1         # the most accurate on the front

writes into ``nsearch-out/export/trial_0007/``:

- ``model.pt2``: a ``torch.export`` program; ``torch.export.load(path).module()`` takes float
  images in [0, 1] shaped ``N x C x H x W`` (any N), normalises them itself and returns class
  logits. It needs torch only.
- ``model.onnx``: the same for ONNX Runtime (input ``images``, output ``logits``), written when
  the deploy extra is installed (``pip install 'nsearch[deploy]'``).
- ``weights.pt``: the network's ``state_dict``; its inputs are ``(x - mean) / std`` with
  ``config.json``'s mean and std, on the same [0, 1] scale as ``x``.
- ``config.json``: space, architecture, input, classes, normalisation, and the trial's accuracy
  (validation and test, with 95 % intervals), parameters, MACs and NetScore, each number with its
  unit in its name.

The weights are the search's checkpoint of the trial's best epoch, and ``config.json`` says so;
``python -m nsearch.finalize`` trains a picked architecture properly. This module reads the
search's result records only; it does not import Lightning.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nsearch._cli import Parser
from nsearch.deploy import Normalized, export_onnx, export_program
from nsearch.search.evaluation import load_trial_model
from nsearch.search.results import TrialRecord, read_records
from nsearch.search.run_info import RunInfo, open_run
from nsearch.search.selection import pick
from nsearch.search_spaces import get_space

__all__ = ["ModelFiles", "describe_model", "export_trial", "main", "write_model_files"]

SEARCH_WEIGHTS = (
    "the search's checkpoint of this trial's best epoch, trained for the search on the training "
    "split only: not a final training run (python -m nsearch.finalize trains the architecture "
    "from scratch on training and validation data)"
)
NO_ONNX = "model.onnx was not written: install the deploy extra with pip install 'nsearch[deploy]'."


@dataclass(frozen=True)
class ModelFiles:
    """The files written for one model; ``onnx`` is None (with ``note`` saying why) without the
    deploy extra."""

    program: Path
    weights: Path
    config: Path
    onnx: Path | None
    note: str = ""

    def as_dict(self) -> dict[str, Path]:
        files = {"program": self.program, "weights": self.weights, "config": self.config}
        return files | ({"onnx": self.onnx} if self.onnx is not None else {})


def write_model_files(
    model: torch.nn.Module,
    dest: Path,
    *,
    input_shape: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    description: dict[str, Any],
) -> ModelFiles:
    """Write ``model`` (trained on normalised inputs) as files that take images in [0, 1]:
    ``model.pt2``, ``model.onnx`` (with the deploy extra), ``weights.pt`` and ``config.json``."""
    dest.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    wrapped = Normalized(model, mean, std).eval()
    example = torch.rand(1, *input_shape)
    program = export_program(wrapped, example, dest / "model.pt2")
    weights = dest / "weights.pt"
    torch.save(model.state_dict(), weights)
    config = dest / "config.json"
    config.write_text(json.dumps(description, indent=2) + "\n")
    ready = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript"))
    if not ready:
        return ModelFiles(program, weights, config, None, NO_ONNX)
    return ModelFiles(program, weights, config, export_onnx(wrapped, example, dest / "model.onnx"))


def describe_model(record: TrialRecord, info: RunInfo, weights: str) -> dict[str, Any]:
    """``config.json``: what the exported files are, every number with its unit in its name."""
    space = get_space(info.settings.space)
    validation, test = record.validation, record.test
    return {
        "space": info.settings.space,
        "architecture": dict(record.architecture),
        "architecture_text": space.describe(space.config_from_params(record.architecture)),
        "trial": record.trial,
        "weights": weights,
        "input": {
            "dtype": "float32",
            "layout": "N x C x H x W",
            "shape_chw": list(info.input_shape),
            "range": [0.0, 1.0],
        },
        "normalisation": {
            "mean": list(info.mean),
            "std": list(info.std),
            "scale": "per channel, in the same [0, 1] units as the input",
            "applied_by": "model.pt2 and model.onnx apply it themselves; weights.pt expects "
            "(x - mean) / std",
        },
        "classes": list(info.classes),
        "validation_accuracy_percent": record.accuracy_percent,
        "validation_accuracy_ci95_percent": list(validation.interval) if validation else None,
        "validation_images": record.val_images,
        "test_accuracy_percent": record.test_accuracy_percent,
        "test_accuracy_ci95_percent": list(test.interval) if test else None,
        "test_images": record.test_images,
        "params": record.params,
        "params_millions": record.params_millions,
        "macs_per_image": record.macs,
        "gmacs_per_image": record.gmacs,
        "latency_ms_per_image": record.latency_ms,
        "netscore_db": record.netscore,
    }


def export_trial(
    out: str | Path,
    *,
    trial: int | None = None,
    rank: int | None = None,
    dest: str | Path | None = None,
) -> ModelFiles:
    """Export one trial's best-epoch model from the search results in ``out``.

    Args:
        out: the ``--out`` folder of a search.
        trial: the trial number; or
        rank: the rank on the Pareto front (1 = most accurate), as in ``pareto.csv``.
        dest: the folder to write; by default ``out/export/trial_NNNN``.

    Raises:
        ValueError: unless exactly one of ``trial`` and ``rank`` is given, or if it names no
            trained model on this machine.
        FileNotFoundError: if ``out`` holds no search.
    """
    run = open_run(out)
    record = pick(read_records(run.study, run.out), run.info.settings, trial=trial, rank=rank)
    model = load_trial_model(run.out, record, run.info)
    dest = Path(dest) if dest is not None else run.out / "export" / f"trial_{record.trial:04d}"
    return write_model_files(
        model,
        dest,
        input_shape=run.info.input_shape,
        mean=run.info.mean,
        std=run.info.std,
        description=describe_model(record, run.info, SEARCH_WEIGHTS),
    )


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        "nsearch.export",
        prog="python -m nsearch.export",
        description="Export a searched model (its search checkpoint) as a torch.export program, "
        "ONNX, weights and config.",
    )
    parser.add_argument("--out", type=Path, default=Path("nsearch-out"),
                        help="The --out folder of the search.")  # fmt: skip
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, help="The number of the trial to export.")
    which.add_argument("--rank", type=int,
                       help="The rank on the Pareto front, 1 being the most accurate.")  # fmt: skip
    parser.add_argument("--dest", type=Path, default=None,
                        help="The folder to write; by default OUT/export/trial_NNNN.")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        files = export_trial(args.out, trial=args.trial, rank=args.rank, dest=args.dest)
    except (ValueError, FileNotFoundError) as error:
        print(f"nsearch.export: error: {error}", file=sys.stderr)
        return 2
    for kind, path in files.as_dict().items():
        print(f"{kind:8s} {path}")
    if files.note:
        print(files.note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
