from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest
from lightning_helpers import (
    TINY_MACS,
    TINY_PARAMS,
    TRAINER_DEFAULTS,
    tiny_module_class,
    trainer_class,
)
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger

import nsearch
from nsearch.callbacks import NetScoreCallback


def expected_netscore(accuracy_fraction: float) -> float:
    return nsearch.netscore(100 * accuracy_fraction, TINY_PARAMS / 1e6, TINY_MACS / 1e9)


def epoch_rows(log_dir: str) -> list[dict[str, str]]:
    with open(Path(log_dir) / "metrics.csv") as f:
        return [row for row in csv.DictReader(f) if row.get("netscore")]


def fit(distribution: str, tmp_path: Path, module_kwargs: dict, epochs: int = 3, **kwargs):
    module = tiny_module_class(distribution)(**module_kwargs)
    logger = kwargs.pop("logger", None)
    if logger is None and distribution == "pytorch_lightning":
        logger = CSVLogger(tmp_path, name="csv")
    callbacks = kwargs.pop("callbacks", [NetScoreCallback()])
    trainer = trainer_class(distribution)(
        max_epochs=epochs,
        default_root_dir=tmp_path,
        logger=logger if logger is not None else True,
        callbacks=callbacks,
        **{**TRAINER_DEFAULTS, **kwargs},
    )
    trainer.fit(module)
    return trainer, module


def test_each_epoch_logs_netscore_of_its_own_accuracy(distribution: str, tmp_path: Path) -> None:
    logger = None
    if distribution == "lightning":
        from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger

        logger = LightningCSVLogger(tmp_path, name="csv")
    trainer, _ = fit(distribution, tmp_path, {}, logger=logger)
    rows = epoch_rows(trainer.logger.log_dir)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for row in rows:
        accuracy = float(row["val_acc"])
        assert float(row["netscore"]) == pytest.approx(expected_netscore(accuracy), rel=1e-5)
        assert float(row["netscore_accuracy_percent"]) == pytest.approx(100 * accuracy, rel=1e-5)
        assert float(row["netscore_params_millions"]) == pytest.approx(TINY_PARAMS / 1e6)
        assert float(row["netscore_gmacs"]) == pytest.approx(TINY_MACS / 1e9)
        assert float(row["netscore_information_density"]) == pytest.approx(
            100 * accuracy / (TINY_PARAMS / 1e6), rel=1e-5
        )
    assert "netscore" in trainer.callback_metrics


def test_accuracy_logged_from_the_modules_epoch_end_is_this_epochs(tmp_path: Path) -> None:
    scripted = [0.5, 0.9, 0.7]
    trainer, _ = fit(
        "pytorch_lightning",
        tmp_path,
        {"scripted_accuracy": scripted, "log_from_epoch_end": True},
    )
    logged = [float(r["netscore"]) for r in epoch_rows(trainer.logger.log_dir)]
    assert logged == pytest.approx([expected_netscore(a) for a in scripted], rel=1e-5)


def test_model_checkpoint_keeps_the_best_netscore_epoch(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", monitor="netscore", mode="max", filename="{epoch}"
    )
    fit(
        "pytorch_lightning",
        tmp_path,
        {"scripted_accuracy": [0.5, 0.9, 0.7]},
        callbacks=[NetScoreCallback(), checkpoint],
    )
    assert Path(checkpoint.best_model_path).name == "epoch=1.ckpt"
    assert float(checkpoint.best_model_score) == pytest.approx(expected_netscore(0.9), rel=1e-5)


def test_early_stopping_on_netscore_stops_the_run(tmp_path: Path) -> None:
    stopping = EarlyStopping(monitor="netscore", mode="max", patience=1)
    trainer, _ = fit(
        "pytorch_lightning",
        tmp_path,
        {"scripted_accuracy": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]},
        epochs=6,
        callbacks=[NetScoreCallback(), stopping],
    )
    assert stopping.stopped_epoch == 1
    assert trainer.current_epoch == 2  # stopped after two epochs of six


def test_resume_goes_on_logging_correct_values(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    scripted = [0.5, 0.6, 0.8, 0.7]
    fit(
        "pytorch_lightning",
        tmp_path,
        {"scripted_accuracy": scripted},
        epochs=2,
        callbacks=[NetScoreCallback(), checkpoint],
    )
    Tiny = tiny_module_class("pytorch_lightning")
    trainer = trainer_class("pytorch_lightning")(
        max_epochs=4,
        logger=CSVLogger(tmp_path, name="resumed"),
        callbacks=[NetScoreCallback()],
        **TRAINER_DEFAULTS,
    )
    trainer.fit(Tiny(scripted_accuracy=scripted), ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    rows = epoch_rows(trainer.logger.log_dir)
    assert [int(r["epoch"]) for r in rows] == [2, 3]
    assert [float(r["netscore"]) for r in rows] == pytest.approx(
        [expected_netscore(0.8), expected_netscore(0.7)], rel=1e-5
    )


def test_example_input_array_and_other_accuracy_names(tmp_path: Path) -> None:
    trainer, _ = fit(
        "pytorch_lightning",
        tmp_path,
        {"example_input": True, "accuracy_key": "val/accuracy", "scripted_accuracy": [0.75]},
        epochs=1,
    )
    assert float(trainer.callback_metrics["netscore"]) == pytest.approx(expected_netscore(0.75))


def test_counting_leaves_the_module_hook_as_it_was(tmp_path: Path) -> None:
    Tiny = tiny_module_class("pytorch_lightning")
    module = Tiny()
    trainer = trainer_class("pytorch_lightning")(
        max_epochs=1,
        logger=False,
        default_root_dir=tmp_path,
        callbacks=[NetScoreCallback()],
        **TRAINER_DEFAULTS,
    )
    trainer.fit(module)
    assert "on_validation_epoch_end" not in vars(module)
    assert module.on_validation_epoch_end.__func__ is Tiny.on_validation_epoch_end


def test_percent_accuracy(tmp_path: Path) -> None:
    trainer, _ = fit(
        "pytorch_lightning",
        tmp_path,
        {"scripted_accuracy": [87.5]},
        epochs=1,
        callbacks=[NetScoreCallback("val_acc", accuracy_unit="percent")],
    )
    assert float(trainer.callback_metrics["netscore"]) == pytest.approx(
        expected_netscore(0.875), rel=1e-5
    )


def test_zero_accuracy_logs_minus_infinity(tmp_path: Path) -> None:
    trainer, _ = fit("pytorch_lightning", tmp_path, {"scripted_accuracy": [0.0]}, epochs=1)
    assert float(trainer.callback_metrics["netscore"]) == -math.inf


def test_percent_value_declared_as_fraction_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"`val_acc` = 87.5 is outside \[0, 1\].*'percent'"):
        fit("pytorch_lightning", tmp_path, {"scripted_accuracy": [87.5]}, epochs=1)


def test_missing_accuracy_lists_the_logged_keys(tmp_path: Path) -> None:
    with pytest.raises(
        RuntimeError, match=r"could not find the accuracy metric `top1`.*train_loss"
    ):
        fit("pytorch_lightning", tmp_path, {}, epochs=1, callbacks=[NetScoreCallback("top1")])


def test_missing_accuracy_with_strict_false_warns_and_skips(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="could not find the accuracy metric .* Skipping"):
        trainer, _ = fit(
            "pytorch_lightning",
            tmp_path,
            {"accuracy_key": "top1"},
            epochs=1,
            callbacks=[NetScoreCallback(strict=False)],
        )
    assert "netscore" not in trainer.callback_metrics


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"accuracy_key": ""}, r"`accuracy_key` must be a metric name or None, got ''"),
        ({"accuracy_unit": "ratio"}, r"`accuracy_unit` can be fraction, percent, got 'ratio'"),
        ({"convention": "flops"}, r"`convention` can be torchvision, fvcore, got 'flops'"),
        ({"input_shape": (3, -1)}, r"`input_shape` must be .* got \(3, -1\)"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NetScoreCallback(**kwargs)


def test_ddp_logs_netscore_of_the_synced_accuracy(tmp_path: Path) -> None:
    script = Path(__file__).with_name("ddp_netscore.py")
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = [float((tmp_path / f"rank{r}.txt").read_text()) for r in (0, 1)]
    # rank 0 logs accuracy 0.6 and rank 1 logs 0.8, unsynced: NetScore uses their mean, 0.7.
    assert values == pytest.approx([expected_netscore(0.7)] * 2, rel=1e-5)
