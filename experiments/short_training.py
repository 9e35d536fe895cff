"""A small mobilenet trained for at most 60 seconds: its eval-mode validation accuracy.

Trains mobilenet width 0.25 depth 0.25 on the embedded Fashion-MNIST subset with nsearch's
Classifier for 3 epochs, capped at 60 s of training by Lightning's ``max_time``; prints the
training time and the validation accuracy measured in eval mode over the whole validation split,
and writes ``results/short_training.json``. Goal: at least 80 %.

    python experiments/short_training.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from nsearch.data import ImageDataModule
from nsearch.search_spaces import get_space
from nsearch.training import Classifier

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    torch.manual_seed(0)
    data = ImageDataModule("embedded")
    space = get_space("mobilenet-uniform")
    config = space.config_type(width=0.25, depth=0.25)
    model = space.build(config, in_channels=1, num_classes=10, input_size=28)
    trainer = pl.Trainer(max_epochs=3, max_time={"seconds": 60}, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)  # fmt: skip
    start = time.perf_counter()
    trainer.fit(Classifier(model), datamodule=data)
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        pairs = [(int((model(x).argmax(1) == y).sum()), len(y)) for x, y in data.val_dataloader()]
    accuracy = 100 * sum(c for c, _ in pairs) / sum(n for _, n in pairs)
    print(f"{trainer.current_epoch} epochs in {seconds:.1f} s (cap 60 s); "
          f"eval-mode validation accuracy {accuracy:.2f} % (goal >= 80 %)")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "short_training.json").write_text(json.dumps(
        {"config": {"width": 0.25, "depth": 0.25}, "epochs": trainer.current_epoch,
         "fit_seconds": seconds, "val_accuracy_percent": accuracy}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
