"""Training throughput of nsearch's Lightning training against hand-written PyTorch loops.

The same mid-size mobilenet candidate (width 0.5, depth 0.75), the same in-memory data (the
embedded Fashion-MNIST subset, batch 128), the same optimizer and schedule, measured in one run:

- nsearch: ``Classifier`` under a Lightning ``Trainer`` (validation off), timed per epoch;
- a hand-written loop in ``channels_last`` memory format;
- a naive hand-written loop in the default memory format.

Prints images per second and the ratios, and writes ``results/bench_throughput.json``.
Goal: nsearch / channels_last loop >= 0.9.

    python experiments/bench_throughput.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from nsearch.data import ImageDataModule
from nsearch.search_spaces import get_space
from nsearch.training import Classifier

RESULTS = Path(__file__).parent / "results"
CONFIG = {"width": 0.5, "depth": 0.75}


def build() -> torch.nn.Module:
    space = get_space("mobilenet-uniform")
    torch.manual_seed(0)
    return space.build(space.config_type(**CONFIG), in_channels=1, num_classes=10, input_size=28)


class EpochTimer(pl.Callback):
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds = time.perf_counter() - self.start


def nsearch_images_per_second(data: ImageDataModule) -> float:
    timer = EpochTimer()
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[timer],
    )
    trainer.fit(Classifier(build()), datamodule=data)
    return len(data.train_dataloader().labels) / timer.seconds


def loop_images_per_second(data: ImageDataModule, channels_last: bool) -> float:
    model = build()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format).train()
    loader = data.train_dataloader()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True,
                                weight_decay=5e-5)  # fmt: skip
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.2, total_steps=len(loader),
                                                   pct_start=0.25)  # fmt: skip
    start = time.perf_counter()
    images = 0
    for x, y in loader:
        x = x.contiguous(memory_format=memory_format)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        images += len(y)
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="Epochs measured per method.")
    args = parser.parse_args()
    data = ImageDataModule("embedded")
    data.setup()
    methods = {
        "nsearch": lambda: nsearch_images_per_second(data),
        "loop_channels_last": lambda: loop_images_per_second(data, True),
        "loop_naive": lambda: loop_images_per_second(data, False),
    }
    results: dict[str, list[float]] = {name: [] for name in methods}
    loop_images_per_second(data, True)  # warm-up
    for repeat in range(args.repeats):
        for name, run in methods.items():  # interleaved, so drift hits all alike
            results[name].append(run())
            print(f"repeat {repeat} {name:20s} {results[name][-1]:7.1f} images/s", flush=True)
    median = {name: statistics.median(v) for name, v in results.items()}
    ratio = median["nsearch"] / median["loop_channels_last"]
    naive = median["nsearch"] / median["loop_naive"]
    print(f"nsearch / channels_last loop: {ratio:.3f} (goal >= 0.9)")
    print(f"nsearch / naive loop (default memory format): {naive:.3f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_throughput.json").write_text(json.dumps(
        {"images_per_second": results, "median": median, "ratio_vs_channels_last_loop": ratio,
         "ratio_vs_naive_loop": naive, "model": f"mobilenet {CONFIG}", "batch_size": 128,
         "threads": torch.get_num_threads()}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
