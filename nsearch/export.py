"""``python -m nsearch.export``: write a searched model as files that run without nsearch.

Examples::

    python -m nsearch.export --out nsearch-out --trial 7        # a trial by number
    python -m nsearch.export --out nsearch-out --rank 1         # the most accurate on the front

writes into ``nsearch-out/export/trial_0007/``:

- ``model.torchscript.pt``: ``torch.jit.load`` it and call it on float images in [0, 1], shaped
  ``N x C x H x W``; it normalises them itself and returns class logits.
- ``model.onnx``: the same, where the ``onnx`` package is installed.
- ``weights.pt``: the network's ``state_dict`` (inputs normalised with ``config.json``'s mean/std).
- ``config.json``: space, architecture config, input shape, classes, normalisation, and the
  trial's accuracy, parameters, MACs and NetScore.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import optuna
import torch
from torch import nn

from nsearch.study import load_trial_model, pareto_rows, read_run_file, trial_config, trial_rows

log = logging.getLogger(__name__)

__all__ = ["Normalized", "export_trial", "main"]


class Normalized(nn.Module):
    """Takes images in [0, 1] and normalises them as the network was trained."""

    def __init__(self, model: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.model = model
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1) / 255.0)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1) / 255.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def select_row(
    out: Path, trial: int | None, rank: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's info and the row of the trial asked for, by number or by rank on the front."""
    info = read_run_file(out)
    study = optuna.load_study(study_name=info["study_name"], storage=info["storage"])
    rows = trial_rows(study)
    if rank is not None:
        front = pareto_rows(rows)
        if not 1 <= rank <= len(front):
            raise ValueError(
                f"`--rank` must be between 1 and {len(front)} (the front's size), got {rank}."
            )
        return info, front[rank - 1]
    trained = {r["trial"]: r for r in rows if r["checkpoint"]}
    if trial not in trained:
        raise ValueError(
            f"Trial {trial} has no trained model; the trials that do are: "
            f"{', '.join(map(str, sorted(trained))) or 'none'}."
        )
    return info, trained[trial]


def check_here(out: Path, row: dict[str, Any]) -> None:
    if not (out / row["checkpoint"]).is_file():
        raise ValueError(
            f"The checkpoint of trial {row['trial']} is not in {str(out)!r}: worker "
            f"{row['worker']} trained it; export it on that machine, from its --out folder."
        )


def export_trial(
    out: str | Path,
    *,
    trial: int | None = None,
    rank: int | None = None,
    dest: str | Path | None = None,
) -> dict[str, Path]:
    """Export one trial's best-epoch model from the search results in ``out``.

    Args:
        out: the ``--out`` folder of a search.
        trial: the trial number; or
        rank: the rank on the Pareto front (1 = most accurate), as in ``pareto.csv``.
        dest: the folder to write; by default ``out/export/trial_NNNN``.

    Returns:
        The written files by kind: ``torchscript``, ``weights``, ``config`` and maybe ``onnx``.

    Raises:
        ValueError: unless exactly one of ``trial`` and ``rank`` is given, or if it names no
            trained model.
        FileNotFoundError: if ``out`` holds no search.
    """
    if (trial is None) == (rank is None):
        raise ValueError("Give exactly one of `trial` and `rank`.")
    out = Path(out)
    info, row = select_row(out, trial, rank)
    check_here(out, row)
    model = load_trial_model(out, row, info)
    dest = Path(dest) if dest is not None else out / "export" / f"trial_{row['trial']:04d}"
    dest.mkdir(parents=True, exist_ok=True)
    wrapped = Normalized(model, info["mean"], info["std"]).eval()
    example = torch.rand(1, *info["input_shape"])
    files = {
        "torchscript": dest / "model.torchscript.pt",
        "weights": dest / "weights.pt",
        "config": dest / "config.json",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(wrapped, example).save(str(files["torchscript"]))
    torch.save(model.state_dict(), files["weights"])
    config = {
        "space": info["settings"]["space"],
        "config": dataclasses.asdict(trial_config(row, info["settings"]["space"])),
        "trial": row["trial"],
        "input": "float32 images in [0, 1], shaped N x C x H x W",
        "input_shape": info["input_shape"],
        "classes": info["classes"],
        "mean": info["mean"],
        "std": info["std"],
        "accuracy_percent": row["accuracy_percent"],
        "test_accuracy_percent": row.get("test_accuracy_percent"),
        "params": row["params"],
        "macs": row["macs"],
        "netscore": row["netscore"],
    }
    files["config"].write_text(json.dumps(config, indent=2))
    if importlib.util.find_spec("onnx") is not None:
        files["onnx"] = dest / "model.onnx"
        try:
            torch.onnx.export(
                wrapped, (example,), str(files["onnx"]), input_names=["images"],
                output_names=["logits"], dynamic_axes={"images": {0: "batch"}}, dynamo=False,
            )  # fmt: skip
        except Exception as error:  # ONNX export is a bonus; the TorchScript file is there
            log.warning("ONNX export failed: %s", error)
            del files["onnx"]
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nsearch.export",
        description="Export a searched model as TorchScript (and ONNX), weights and config.",
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
    except (ValueError, FileNotFoundError, KeyError) as error:
        print(f"nsearch.export: error: {error}", file=sys.stderr)
        return 2
    for kind, path in files.items():
        print(f"{kind:12s} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
