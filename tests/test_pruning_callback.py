from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from lightning_helpers import TRAINER_DEFAULTS, tiny_module_class, trainer_class

from nsearch.callbacks import NetScoreCallback, OptunaPruning

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective_for(distribution: str, tmp_path: Path, scripted: list[float]):
    def objective(trial: optuna.Trial) -> float:
        trainer = trainer_class(distribution)(
            max_epochs=len(scripted),
            logger=False,
            enable_checkpointing=False,
            default_root_dir=tmp_path,
            callbacks=[NetScoreCallback(), OptunaPruning(trial)],
            **TRAINER_DEFAULTS,
        )
        trainer.fit(tiny_module_class(distribution)(scripted_accuracy=scripted))
        trial.set_user_attr("epochs", trainer.current_epoch)
        return float(trainer.callback_metrics["netscore"])

    return objective


def test_reports_every_epoch_and_completes(distribution: str, tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    study.optimize(objective_for(distribution, tmp_path, [0.5, 0.6, 0.7]), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == [0, 1, 2]
    assert trial.intermediate_values[2] == pytest.approx(trial.value)


def test_pruned_trial_stops_the_run(distribution: str, tmp_path: Path) -> None:
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1000.0)
    )
    study.optimize(objective_for(distribution, tmp_path, [0.5, 0.6, 0.7, 0.8]), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]  # stopped after the first epoch


def test_multi_objective_trial_is_refused() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    with pytest.raises(ValueError, match="needs a single-objective study, .* has 2 objectives"):
        OptunaPruning(study.ask())


def test_missing_monitor_lists_logged_keys(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    trainer = trainer_class("pytorch_lightning")(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        callbacks=[OptunaPruning(study.ask(), monitor="val_f1")],
        **TRAINER_DEFAULTS,
    )
    with pytest.raises(RuntimeError, match="monitored metric `val_f1`.*val_acc"):
        trainer.fit(tiny_module_class("pytorch_lightning")())


def test_every_validation_is_reported_with_val_check_interval(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    trainer = trainer_class("pytorch_lightning")(
        max_epochs=2,
        val_check_interval=0.5,  # 4 training batches: validation after batches 2 and 4
        logger=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
        callbacks=[NetScoreCallback(), OptunaPruning(trial)],
        **TRAINER_DEFAULTS,
    )
    trainer.fit(tiny_module_class("pytorch_lightning")(scripted_accuracy=[0.5, 0.6]))
    reported = study.trials[0].intermediate_values
    assert sorted(reported) == [0, 1, 2, 3]
    assert reported[3] == pytest.approx(float(trainer.callback_metrics["netscore"]))


def test_a_reused_callback_counts_validations_afresh(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    pruning = OptunaPruning(study.ask())
    for _ in range(2):
        trainer = trainer_class("pytorch_lightning")(
            max_epochs=1,
            logger=False,
            enable_checkpointing=False,
            default_root_dir=tmp_path,
            callbacks=[NetScoreCallback(), pruning],
            **TRAINER_DEFAULTS,
        )
        trainer.fit(tiny_module_class("pytorch_lightning")())
        assert pruning.validations == 1


def test_a_resumed_fit_goes_on_counting(tmp_path: Path) -> None:
    from pytorch_lightning.callbacks import ModelCheckpoint

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    Tiny = tiny_module_class("pytorch_lightning")

    def trainer(epochs: int, *callbacks: object) -> object:
        return trainer_class("pytorch_lightning")(
            max_epochs=epochs,
            logger=False,
            default_root_dir=tmp_path,
            callbacks=[NetScoreCallback(), OptunaPruning(trial), *callbacks],
            **TRAINER_DEFAULTS,
        )

    trainer(2, ModelCheckpoint(dirpath=tmp_path, save_last=True)).fit(Tiny())
    trainer(3).fit(Tiny(), ckpt_path=tmp_path / "last.ckpt")
    assert sorted(study.trials[0].intermediate_values) == [0, 1, 2]
