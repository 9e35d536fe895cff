"""``python -m nsearch.finalize``: train a picked architecture properly and package it for a device.

Examples::

    python -m nsearch.finalize --out nsearch-out --rank 1       # the most accurate on the front
    python -m nsearch.finalize --out nsearch-out --trial 12 --epochs 30

Rebuilds the trial's architecture, trains it from scratch on the training and validation images
(the validation split has done its work: choosing), measures test accuracy with its Wilson
interval, and writes ``OUT/final/trial_NNNN/``: ``model.pt2``, ``model.onnx`` (with the deploy
extra), ``weights.pt``, ``config.json`` and ``MODEL_CARD.md``. Parity is checked, not assumed: the
ONNX file run by ONNX Runtime and the program loaded in a fresh process without nsearch are
compared with the trained model on every test image, and latency is measured in each runtime.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from nsearch._cli import Parser, argparse_type
from nsearch.classifier import recalibrate_batchnorm
from nsearch.complexity import count_complexity
from nsearch.deploy import Normalized
from nsearch.export import ModelFiles, write_model_files
from nsearch.latency import Latency, measure_latency
from nsearch.metrics import netscore, wilson_interval
from nsearch.model_card import CardFacts, model_card
from nsearch.parity import Parity, onnx_parity, program_parity_in_fresh_process
from nsearch.search.results import read_records
from nsearch.search.run_info import open_run
from nsearch.search.selection import pick
from nsearch.search.settings import positive_int
from nsearch.search_spaces import get_space

if TYPE_CHECKING:
    from nsearch.data import ImageDataModule  # noqa: F811 (Lightning, imported when training)

__all__ = ["DEFAULT_EPOCHS", "Finalized", "finalize", "main"]

# About 10 minutes on two CPU cores for the default search's models on the embedded data.
DEFAULT_EPOCHS = 15


@dataclass(frozen=True)
class Finalized:
    """What finalize wrote and measured."""

    dest: Path
    files: ModelFiles
    card: Path
    facts: CardFacts

    @property
    def test_accuracy_percent(self) -> float:
        return 100.0 * self.facts.test_correct / self.facts.test_images


def _train(model: torch.nn.Module, data: ImageDataModule, *, epochs: int, lr: float, dest: Path,
           progress: bool) -> float:  # fmt: skip
    import pytorch_lightning as pl

    from nsearch.classifier import Classifier
    from nsearch.search.training import quiet_lightning

    start = time.perf_counter()
    with quiet_lightning():
        trainer = pl.Trainer(
            max_epochs=epochs,
            accelerator="auto",
            devices=1,
            limit_val_batches=0,  # no validation split: every training image trains
            logger=pl.loggers.CSVLogger(dest, name="logs", version=""),
            enable_checkpointing=False,
            enable_progress_bar=progress,
            enable_model_summary=False,
        )
        trainer.fit(Classifier(model, lr=lr), datamodule=data)
    return time.perf_counter() - start


def finalize(
    out: str | Path,
    *,
    trial: int | None = None,
    rank: int | None = None,
    epochs: int = DEFAULT_EPOCHS,
    dest: str | Path | None = None,
    train_limit: int | None = None,
    progress: bool = True,
) -> Finalized:
    """Train one trial's architecture from scratch on training + validation data and package it.

    Args:
        out: the ``--out`` folder of a search.
        trial: the trial number; or
        rank: the rank on the Pareto front (1 = most accurate), as in ``pareto.csv``.
        epochs: training epochs.
        dest: the folder to write; by default ``out/final/trial_NNNN``.
        train_limit: train on at most this many images (a stratified subset), for quick checks.
        progress: show Lightning's progress bar.

    Raises:
        ValueError: unless exactly one of ``trial`` and ``rank`` is given, if it names no
            trial, or if ``epochs`` < 1.
        FileNotFoundError: if ``out`` holds no search or the data is missing.
    """
    from nsearch.data import ImageDataModule  # noqa: F811 (Lightning, imported when training)
    from nsearch.search.evaluation import measure_accuracy

    if epochs < 1:
        raise ValueError(f"`epochs` must be at least 1, got {epochs}.")
    run = open_run(out)
    settings = run.info.settings
    record = pick(read_records(run.study, run.out), settings, trial=trial, rank=rank)
    dest = Path(dest) if dest is not None else run.out / "final" / f"trial_{record.trial:04d}"
    data = ImageDataModule(settings.data, settings.data_dir, batch_size=settings.batch_size,
                           seed=settings.seed, val_fraction=0.0,
                           train_limit=train_limit)  # fmt: skip
    data.setup("fit")
    space = get_space(settings.space)
    config = space.config_from_params(record.architecture)
    torch.manual_seed(settings.seed)
    model = space.build(config, in_channels=data.in_channels, num_classes=data.num_classes,
                        input_size=data.input_size)  # fmt: skip
    dest.mkdir(parents=True, exist_ok=True)
    seconds = _train(model, data, epochs=epochs, lr=settings.peak_lr, dest=dest, progress=progress)
    model = model.cpu().eval()
    recalibrate_batchnorm(model, data.train_dataloader(), 10)
    test = measure_accuracy(model, data.test_dataloader())
    cost = count_complexity(model, data.input_shape)
    wrapped = Normalized(model, data.mean, data.std).eval()
    latencies: list[Latency] = [measure_latency(wrapped, data.input_shape, threads=1)]
    description = {"weights": "trained from scratch by python -m nsearch.finalize"}
    files = write_model_files(model, dest, input_shape=data.input_shape, mean=data.mean,
                              std=data.std, description=description)  # fmt: skip
    images = _test_images(data)
    with torch.inference_mode():
        reference = torch.cat([wrapped(chunk) for chunk in images.split(512)])
    parities: list[Parity] = [program_parity_in_fresh_process(files.program, images, reference)]
    if files.onnx is not None:
        parities.append(onnx_parity(files.onnx, wrapped, images))
        latencies.append(measure_latency(wrapped, data.input_shape, runtime="onnxruntime",
                                         threads=1))  # fmt: skip
    facts = CardFacts(
        space=settings.space,
        architecture_text=space.describe(config),
        trial=record.trial,
        params=cost.params,
        macs=cost.macs,
        netscore_db=netscore(test.percent, cost.params_millions, cost.gmacs),
        test_correct=test.correct,
        test_images=test.images,
        test_interval=wilson_interval(test.correct, test.images),
        search_val_accuracy_percent=record.accuracy_percent,
        data=settings.data,
        train_images=data.train_images,
        classes=data.classes,
        input_shape=data.input_shape,
        mean=data.mean,
        std=data.std,
        epochs=epochs,
        batch_size=settings.batch_size,
        lr=settings.peak_lr,
        seed=settings.seed,
        train_seconds=seconds,
        latencies=latencies,
        parities=parities,
        onnx_note=files.note,
    )
    files.config.write_text(json.dumps(_config(facts, record.architecture), indent=2) + "\n")
    card = dest / "MODEL_CARD.md"
    card.write_text(model_card(facts))
    return Finalized(dest, files, card, facts)


def _test_images(data: ImageDataModule) -> torch.Tensor:
    """The test split as float images in [0, 1] (the data module holds them normalised)."""
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    batches = [x for x, _ in data.test_dataloader()]
    return (torch.cat(batches).float() * std + mean).contiguous()


def _config(facts: CardFacts, architecture: object) -> dict[str, object]:
    """``config.json``: the card's facts, each number with its unit in its name."""
    low, high = facts.test_interval
    return {
        "space": facts.space,
        "architecture": architecture,
        "architecture_text": facts.architecture_text,
        "search_trial": facts.trial,
        "weights": "trained from scratch by python -m nsearch.finalize on training + validation "
        "images",
        "input": {
            "dtype": "float32",
            "layout": "N x C x H x W",
            "shape_chw": list(facts.input_shape),
            "range": [0.0, 1.0],
        },  # fmt: skip
        "normalisation": {
            "mean": list(facts.mean),
            "std": list(facts.std),
            "scale": "per channel, in the same [0, 1] units as the input",
            "applied_by": "model.pt2 and model.onnx apply it themselves; weights.pt expects "
            "(x - mean) / std",
        },
        "classes": list(facts.classes),
        "test_accuracy_percent": 100.0 * facts.test_correct / facts.test_images,
        "test_accuracy_ci95_percent": [low, high],
        "test_images": facts.test_images,
        "params": facts.params,
        "params_millions": facts.params / 1e6,
        "macs_per_image": facts.macs,
        "gmacs_per_image": facts.macs / 1e9,
        "netscore_db": facts.netscore_db,
        "latency_ms_batch1": {lat.runtime: dataclasses.asdict(lat) for lat in facts.latencies},
        "parity": [dataclasses.asdict(p) for p in facts.parities],
        "training": {
            "data": facts.data,
            "train_images": facts.train_images,
            "epochs": facts.epochs,
            "batch_size": facts.batch_size,
            "peak_lr": facts.lr,
            "seed": facts.seed,
            "train_seconds": round(facts.train_seconds, 1),
        },  # fmt: skip
    }


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        "nsearch.finalize",
        prog="python -m nsearch.finalize",
        description="Train a picked architecture from scratch on training + validation data, "
        "measure its test accuracy and latency, and write the files a device team takes away.",
    )
    parser.add_argument("--out", type=Path, default=Path("nsearch-out"),
                        help="The --out folder of the search.")  # fmt: skip
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, help="The number of the trial to finalize.")
    which.add_argument("--rank", type=int,
                       help="The rank on the Pareto front, 1 being the most accurate.")  # fmt: skip
    parser.add_argument("--epochs", type=argparse_type(positive_int), default=DEFAULT_EPOCHS,
                        help="Training epochs.")  # fmt: skip
    parser.add_argument("--train-limit", type=argparse_type(positive_int), default=None,
                        help="Train on at most this many images, for a quick check.")  # fmt: skip
    parser.add_argument("--dest", type=Path, default=None,
                        help="The folder to write; by default OUT/final/trial_NNNN.")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    args = parser.parse_args(argv)
    try:
        done = finalize(args.out, trial=args.trial, rank=args.rank, epochs=args.epochs,
                        dest=args.dest, train_limit=args.train_limit,
                        progress=not args.no_progress)  # fmt: skip
    except (ValueError, FileNotFoundError) as error:
        print(f"nsearch.finalize: error: {error}", file=sys.stderr)
        return 2
    f = done.facts
    low, high = f.test_interval
    print(f"Test accuracy {done.test_accuracy_percent:.2f} % ({low:.2f}-{high:.2f} %, "
          f"{f.test_images:,} images); NetScore {f.netscore_db:.2f} dB.")  # fmt: skip
    for p in f.parities:
        verdict = "ok" if p.ok else "NOT ok"
        print(f"Parity, {p.runtime}: same class on {p.same_class:,}/{p.n_images:,} images, "
              f"largest logit difference {p.max_abs_diff:.1e} ({verdict}).")  # fmt: skip
    if f.onnx_note:
        print(f.onnx_note)
    print(f"Wrote {done.dest} (start with {done.card.name}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
