"""Overhead of NetScoreCallback: the same fit with and without it, alternated.

Trains a mobilenet (width 0.5, depth 0.5) on the embedded Fashion-MNIST subset for a few epochs,
with and without the callback, alternating the order over several pairs; the complexity cache is
cleared before every run, so each fit with the callback pays for its one trace. Prints the median
time ratio (with / without) and writes ``results/bench_callback.json``. Goal: at most 1.01.

    python experiments/bench_callback.py [--pairs 5] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from nsearch.callbacks import NetScoreCallback
from nsearch.cost import clear_caches
from nsearch.data import ImageDataModule
from nsearch.search_spaces import get_space
from nsearch.training import Classifier

RESULTS = Path(__file__).parent / "results"


def fit_seconds(data: ImageDataModule, epochs: int, with_callback: bool) -> float:
    space = get_space("mobilenet-uniform")
    torch.manual_seed(0)
    model = space.build(space.config_type(width=0.5, depth=0.5), in_channels=1, num_classes=10,
                        input_size=28)  # fmt: skip
    clear_caches()
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[NetScoreCallback()] if with_callback else [],
    )
    start = time.perf_counter()
    trainer.fit(Classifier(model), datamodule=data)
    seconds = time.perf_counter() - start
    assert ("netscore" in trainer.callback_metrics) == with_callback
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="Pairs of fits to alternate.")
    parser.add_argument("--epochs", type=int, default=2, help="Epochs per fit.")
    args = parser.parse_args()
    data = ImageDataModule("embedded")
    data.setup()
    fit_seconds(data, 1, True)  # warm-up: imports, allocator, first trace
    ratios, runs = [], []
    for pair in range(args.pairs):
        order = (True, False) if pair % 2 == 0 else (False, True)
        times = {flag: fit_seconds(data, args.epochs, flag) for flag in order}
        ratios.append(times[True] / times[False])
        runs.append({"with": times[True], "without": times[False]})
        print(f"pair {pair}: with {times[True]:.2f} s, without {times[False]:.2f} s, "
              f"ratio {ratios[-1]:.4f}", flush=True)  # fmt: skip
    median = statistics.median(ratios)
    print(f"median time ratio with / without NetScoreCallback: {median:.4f} (goal <= 1.01)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_callback.json").write_text(json.dumps(
        {"median_ratio": median, "ratios": ratios, "runs": runs, "epochs": args.epochs,
         "model": "mobilenet width=0.5 depth=0.5", "data": "embedded"}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
