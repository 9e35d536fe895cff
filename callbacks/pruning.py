"""OptunaPruning: report a monitored value to an Optuna trial and stop the run when it is pruned."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Union

from nsearch.callbacks._compat import CALLBACK_BASES

if TYPE_CHECKING:
    import optuna

__all__ = ["OptunaPruning"]

Monitor = Union[str, Callable[[Mapping[str, Any]], float]]  # noqa: UP007 (a runtime alias)


class OptunaPruning(*CALLBACK_BASES):  # type: ignore[misc]
    """Report ``monitor`` to an Optuna trial after each validation; stop when it is pruned.

    Works with either Lightning distribution (optuna-integration's callback needs ``lightning``).
    When the trial's pruner says so, the callback sets ``trainer.should_stop``, lets the epoch end
    cleanly (checkpoints and logs are written), and ``trainer.fit`` then raises
    :class:`optuna.TrialPruned`, which Optuna records as a pruned trial.

    Every validation of the fit (the sanity check aside) is reported, at step = the number of
    validations run before it: ``0, 1, 2, ...``. With one validation per epoch the step is the
    epoch number; with ``val_check_interval=0.5`` epoch ``e`` reports steps ``2e`` and ``2e + 1``.
    The count starts at 0 in each fit and is kept in checkpoints, so a resumed fit goes on.

    Args:
        trial: the running trial of a single-objective study (Optuna cannot prune
            multi-objective ones).
        monitor: the logged metric to report, ``netscore`` (from :class:`NetScoreCallback`) by
            default, or a function of ``trainer.callback_metrics`` that returns the value.

    Raises:
        ValueError: if ``trial`` belongs to a multi-objective study.
        RuntimeError: at a validation end, if ``monitor`` was not logged.
    """

    def __init__(self, trial: optuna.Trial, monitor: Monitor = "netscore") -> None:
        super().__init__()
        if len(trial.study.directions) != 1:
            raise ValueError(
                f"OptunaPruning needs a single-objective study, but the trial's study has "
                f"{len(trial.study.directions)} objectives; Optuna cannot prune those."
            )
        self.trial = trial
        self.monitor = monitor
        self.validations = 0  # validations reported in this fit: the next step
        self.pruned_at_epoch: int | None = None

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":  # each fit starts afresh; a resumed one loads its count after this
            self.validations = 0
            self.pruned_at_epoch = None

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        metrics = trainer.callback_metrics
        if callable(self.monitor):
            value = float(self.monitor(metrics))
        elif self.monitor in metrics:
            value = float(metrics[self.monitor])
        else:
            raise RuntimeError(
                f"OptunaPruning could not find the monitored metric `{self.monitor}`; the logged "
                f"metrics are: {', '.join(sorted(metrics)) or 'none'}."
            )
        step, self.validations = self.validations, self.validations + 1
        prune = False
        if trainer.is_global_zero:  # one report per validation, whatever the number of processes
            if math.isfinite(value):  # NaN and -inf (accuracy 0) are not reported
                self.trial.report(value, step=step)
            prune = self.trial.should_prune()
        should_prune = trainer.strategy.reduce_boolean_decision(prune, all=False)
        if should_prune:
            self.pruned_at_epoch = trainer.current_epoch
            trainer.should_stop = True

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.pruned_at_epoch is not None:
            import optuna

            raise optuna.TrialPruned(
                f"Trial {self.trial.number} pruned at epoch {self.pruned_at_epoch} "
                f"(validation {self.validations - 1})."
            )

    def state_dict(self) -> dict[str, Any]:
        return {"validations": self.validations}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.validations = int(state_dict.get("validations", 0))
