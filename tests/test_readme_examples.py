"""The README's examples run as they are written, from a cold start."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import pytorch_lightning as pl
from lightning_helpers import tiny_data, tiny_module_class

README = Path(__file__).resolve().parent.parent / "README.md"


def python_block(section: str) -> str:
    """The first ```python block of the README section headed ``section``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{section}\n")
    end = text.find("\n## ", start + 1)
    match = re.search(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.DOTALL)
    assert match, f"no python code block in README section {section!r}"
    return match.group(1)


def test_netscore_in_any_lightning_run_survives_a_first_epoch_at_zero_accuracy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the example's Trainer writes logs and checkpoints here
    code = python_block("## NetScore in any Lightning run")
    scripted = [0.0, 0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9]  # a cold start: 0 % first
    namespace = {
        "model": tiny_module_class("pytorch_lightning")(scripted_accuracy=scripted),
        "datamodule": pl.LightningDataModule.from_datasets(
            train_dataset=tiny_data(128, seed=0), val_dataset=tiny_data(64, seed=1), batch_size=32
        ),
    }
    exec(compile(code, str(README), "exec"), namespace)

    trainer = namespace["trainer"]
    assert trainer.current_epoch == 10  # all ten epochs ran: nothing stopped at epoch 0
    assert trainer.early_stopping_callback.stopped_epoch == 0
    assert float(trainer.callback_metrics["netscore_accuracy_percent"]) == pytest.approx(90.0)
    best = float(trainer.checkpoint_callback.best_model_score)
    assert math.isfinite(best) and best == pytest.approx(
        float(trainer.callback_metrics["netscore"])
    )
    assert Path(trainer.checkpoint_callback.best_model_path).name.startswith("epoch=9")


def test_your_own_optuna_objective_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(python_block("### Your own Optuna objective"), str(README), "exec"), namespace)
    study = namespace["study"]
    complete = [t for t in study.trials if t.value is not None]  # type: ignore[attr-defined]
    assert len(study.trials) == 2 and complete  # type: ignore[attr-defined]
    assert all(math.isfinite(t.value) and 60 < t.value < 140 for t in complete)  # NetScore, dB
