from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from lightning_helpers import (
    TINY_MACS,
    TINY_PARAMS,
    TRAINER_DEFAULTS,
    tiny_data,
    tiny_macs,
    tiny_module_class,
    trainer_class,
)
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader

import nsearch
from nsearch.callbacks import NetScoreCallback


def expected_netscore(accuracy_fraction: float) -> float:
    return nsearch.netscore(100 * accuracy_fraction, TINY_PARAMS / 1e6, TINY_MACS / 1e9)


def epoch_rows(log_dir: str) -> list[dict[str, str]]:
    with open(Path(log_dir) / "metrics.csv") as f:
        return [row for row in csv.DictReader(f) if row.get("netscore")]


def fit(distribution: str, tmp_path: Path, module_kwargs: dict, epochs: int = 3, **kwargs):
    module_kwargs = dict(module_kwargs)
    from_epoch_end = module_kwargs.pop("log_from_epoch_end", False)
    module = tiny_module_class(distribution, log_from_epoch_end=from_epoch_end)(**module_kwargs)
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
        ({"network": 3}, r"`network` must be None .* got 3\.$"),
        ({"network": ""}, r"`network` must be None .* got ''\.$"),
        ({"network": nn.Linear(2, 2)}, r"`network` must be .* got an nn.Module \(Linear\)\.$"),
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


def make_trainer(
    tmp_path: Path,
    callbacks: list,
    epochs: int = 1,
    distribution: str = "pytorch_lightning",
    **kwargs: Any,
) -> Any:
    return trainer_class(distribution)(
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
        callbacks=callbacks,
        **{**TRAINER_DEFAULTS, **kwargs},
    )


def assert_logs_netscore_of_its_accuracy(trainer: Any, key: str = "val_acc") -> None:
    accuracy = float(trainer.callback_metrics[key])
    assert float(trainer.callback_metrics["netscore"]) == pytest.approx(
        expected_netscore(accuracy), rel=1e-5
    )


# A fit that fails, two callbacks, saving the module: the module comes out as it went in.


@pytest.mark.parametrize("log_from_epoch_end", [False, True])
def test_a_failed_fit_leaves_the_module_as_it_was(
    distribution: str, log_from_epoch_end: bool, tmp_path: Path
) -> None:
    module = tiny_module_class(distribution, log_from_epoch_end=log_from_epoch_end)()
    with pytest.raises(RuntimeError, match="could not find the accuracy metric `top1`"):
        make_trainer(tmp_path, [NetScoreCallback("top1")], distribution=distribution).fit(module)
    assert "on_validation_epoch_end" not in vars(module)

    fixed = make_trainer(tmp_path, [NetScoreCallback("val_acc")], distribution=distribution)
    fixed.fit(module)
    assert_logs_netscore_of_its_accuracy(fixed)

    without = make_trainer(tmp_path, [], distribution=distribution)
    without.fit(module)
    assert "val_acc" in without.callback_metrics
    assert not [key for key in without.callback_metrics if key.startswith("netscore")]


@pytest.mark.parametrize("log_from_epoch_end", [False, True])
def test_two_callbacks_leave_nothing_behind(log_from_epoch_end: bool, tmp_path: Path) -> None:
    module = tiny_module_class("pytorch_lightning", log_from_epoch_end=log_from_epoch_end)()
    callbacks = [NetScoreCallback(), NetScoreCallback("val_acc", prefix="again_")]
    trainer = make_trainer(tmp_path, callbacks)
    trainer.fit(module)
    assert_logs_netscore_of_its_accuracy(trainer)
    metrics = trainer.callback_metrics
    assert float(metrics["again_netscore"]) == pytest.approx(float(metrics["netscore"]))
    assert "on_validation_epoch_end" not in vars(module)

    with pytest.raises(RuntimeError, match="accuracy metric `top1`"):
        make_trainer(tmp_path, [NetScoreCallback(), NetScoreCallback("top1", prefix="top1_")]
                     ).fit(module)  # fmt: skip
    assert "on_validation_epoch_end" not in vars(module)


@pytest.mark.parametrize("distribution_name", ["pytorch_lightning", "lightning"])
def test_two_callbacks_that_would_log_the_same_names_are_refused_in_one_sentence(
    distribution_name: str, tmp_path: Path
) -> None:
    module = tiny_module_class(distribution_name)()
    # Lightning itself refused this pair at Trainer() ("more than one stateful callback");
    # with the same names Lightning would also have averaged the two values silently.
    trainer = make_trainer(tmp_path, [NetScoreCallback(), NetScoreCallback(strict=False)],
                           distribution=distribution_name)  # fmt: skip
    with pytest.raises(ValueError, match=r"^This Trainer has 2 NetScoreCallbacks that would all "
                       r"log `netscore` and its parts, which Lightning would average; keep one, "
                       r"or give each its own `prefix=`"):  # fmt: skip
        trainer.fit(module)
    assert "on_validation_epoch_end" not in vars(module)


class SaveModule(pl.Callback):
    """Saves the whole module at the end of each training epoch and of each validation epoch (after
    the callbacks before it in the list)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        torch.save(pl_module, self.folder / "train_epoch_end.pt")

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            torch.save(pl_module, self.folder / "validation_epoch_end.pt")


@pytest.mark.parametrize("log_from_epoch_end", [False, True])
def test_the_module_can_be_saved_during_fit(log_from_epoch_end: bool, tmp_path: Path) -> None:
    Tiny = tiny_module_class("pytorch_lightning", log_from_epoch_end=log_from_epoch_end)
    trainer = make_trainer(tmp_path, [NetScoreCallback(), SaveModule(tmp_path)])
    trainer.fit(Tiny())
    assert_logs_netscore_of_its_accuracy(trainer)
    for name in ("train_epoch_end.pt", "validation_epoch_end.pt"):
        saved = torch.load(tmp_path / name, weights_only=False)
        assert type(saved) is Tiny
        without = make_trainer(tmp_path, [])
        without.fit(saved)  # a saved copy carries no NetScore hook
        assert "val_acc" in without.callback_metrics
        assert "netscore" not in without.callback_metrics
        again = make_trainer(tmp_path, [NetScoreCallback()])
        again.fit(saved)
        assert_logs_netscore_of_its_accuracy(again)


# Each fit starts afresh.


def test_a_reused_callback_counts_each_fit_afresh(tmp_path: Path) -> None:
    callback = NetScoreCallback()
    for size in (8, 16):
        trainer = make_trainer(tmp_path, [callback])
        trainer.fit(tiny_module_class("pytorch_lightning")(size=size))
        assert float(trainer.callback_metrics["netscore_gmacs"]) == pytest.approx(
            tiny_macs(size) / 1e9
        )
    assert callback.input_shape is None  # what __init__ was given stays


def test_an_input_shape_given_to_init_stays_for_every_fit(tmp_path: Path) -> None:
    callback = NetScoreCallback(input_shape=(1, 12, 12))
    for size in (8, 16):
        trainer = make_trainer(tmp_path, [callback])
        trainer.fit(tiny_module_class("pytorch_lightning")(size=size))
        assert float(trainer.callback_metrics["netscore_gmacs"]) == pytest.approx(
            tiny_macs(12) / 1e9
        )


# `network`: count the deployed network, not the whole module.


def with_teacher() -> Any:
    module = tiny_module_class("pytorch_lightning")()
    module.teacher = nn.Linear(100, 100)  # 10,100 parameters the deployed network does not have
    return module


@pytest.mark.parametrize("network", ["net", lambda module: module.net])
def test_network_counts_only_the_deployed_network(network: Any, tmp_path: Path) -> None:
    whole = make_trainer(tmp_path, [NetScoreCallback()])
    whole.fit(with_teacher())
    assert float(whole.callback_metrics["netscore_params_millions"]) == pytest.approx(
        (TINY_PARAMS + 10_100) / 1e6
    )
    deployed = make_trainer(tmp_path, [NetScoreCallback(network=network)])
    deployed.fit(with_teacher())
    assert float(deployed.callback_metrics["netscore_params_millions"]) == pytest.approx(
        TINY_PARAMS / 1e6
    )
    assert float(deployed.callback_metrics["netscore_gmacs"]) == pytest.approx(TINY_MACS / 1e9)
    assert_logs_netscore_of_its_accuracy(deployed)


@pytest.mark.parametrize(
    ("network", "match"),
    [
        ("student", r"`network`='student' .* no attribute 'student'"),
        ("teacher.weight", r"`network`='teacher.weight' .* not an nn.Module .* Parameter"),
        (lambda module: None, r"`network`=.*<lambda>.* returned None, not an nn.Module"),
    ],
)
def test_a_network_that_is_not_there_is_an_error_at_first_use(
    network: Any, match: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=match):
        make_trainer(tmp_path, [NetScoreCallback(network=network)]).fit(with_teacher())


# Example inputs: `forward(x, mask)`.


def masked_module(example: Any) -> Any:
    class Masked(tiny_module_class("pytorch_lightning")):  # type: ignore[misc]
        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.net(x * mask)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = F.cross_entropy(self(x, torch.ones_like(x)), y)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            correct = (self(x, torch.ones_like(x)).argmax(1) == y).float().mean()
            self.log("val_acc", correct, on_epoch=True)

    module = Masked()
    module.example_input_array = example
    return module


@pytest.mark.parametrize(
    "example",
    [
        (torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8)),
        {"x": torch.zeros(2, 1, 8, 8), "mask": torch.ones(2, 1, 8, 8)},
    ],
)
def test_example_input_array_of_several_inputs(example: Any, tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, [NetScoreCallback()])
    trainer.fit(masked_module(example))
    assert float(trainer.callback_metrics["netscore_gmacs"]) == pytest.approx(TINY_MACS / 1e9)
    assert_logs_netscore_of_its_accuracy(trainer)


# Several validation dataloaders: `val_acc/dataloader_idx_0`.


def two_loader_module() -> Any:
    class TwoLoaders(tiny_module_class("pytorch_lightning")):  # type: ignore[misc]
        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            x, y = batch
            self.log("val_acc", (self(x).argmax(1) == y).float().mean(), on_epoch=True)

        def val_dataloader(self) -> list[DataLoader]:
            return [
                DataLoader(tiny_data(64, seed=1), batch_size=32),
                DataLoader(tiny_data(32, seed=2), batch_size=32),
            ]

    return TwoLoaders()


def test_several_validation_dataloaders_use_the_first(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, [NetScoreCallback()])
    trainer.fit(two_loader_module())
    assert_logs_netscore_of_its_accuracy(trainer, key="val_acc/dataloader_idx_0")


def test_a_key_logged_per_dataloader_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"pass `accuracy_key='val_acc/dataloader_idx_0'`"):
        make_trainer(tmp_path, [NetScoreCallback("val_acc")]).fit(two_loader_module())
