"""Run by test_netscore_callback.py: two CPU processes under DDP, each logging its own accuracy.

The module logs it from its own ``on_validation_epoch_end``, so NetScoreCallback's work (with its
collective averaging) runs right after that hook on every process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl
from lightning_helpers import TRAINER_DEFAULTS, tiny_module_class

from nsearch.callbacks import NetScoreCallback

if __name__ == "__main__":
    out = Path(sys.argv[1])
    Tiny = tiny_module_class("pytorch_lightning", log_from_epoch_end=True)

    class PerRank(Tiny):  # type: ignore[misc,valid-type]
        def accuracy(self, measured: float) -> float:
            return 0.6 + 0.2 * self.global_rank

    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        callbacks=[NetScoreCallback()],
        **{**TRAINER_DEFAULTS, "devices": 2, "strategy": "ddp", "num_sanity_val_steps": 0},
    )
    module = PerRank()
    trainer.fit(module)
    assert "on_validation_epoch_end" not in vars(module)
    (out / f"rank{trainer.global_rank}.txt").write_text(
        str(float(trainer.callback_metrics["netscore"]))
    )
