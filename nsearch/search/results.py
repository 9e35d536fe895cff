"""The results schema: one frozen record per trial, read back from the Optuna study.

A trial stores its measurements as Optuna user attributes whose names are the fields of
:class:`TrialRecord` (:func:`store` refuses any other name), its architecture once, as Optuna's
parameters, and its test accuracy, measured only for the front's models, in a ``test.json``
beside its checkpoint. Tables, CSV files, the report and export all read these records; every
derived figure (NetScore, intervals, units) is a property, never stored twice.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from nsearch.core.metrics import Measured, information_density, netscore_or_inf

__all__ = [
    "INTERRUPTED", "NOT_RUN", "STOPPED", "TEST_FILE", "Measured", "TrialRecord", "read_records",
    "runs_again", "store", "write_test_result",
]  # fmt: skip

TEST_FILE = "test.json"
# The status of a trial that Ctrl-C stopped; it is run again when the run resumes.
INTERRUPTED = "interrupted"
# The start of the status of a trial whose error stopped the run (bad data met while training,
# say); it too is run again when the run resumes.
STOPPED = "stopped the run: "
# The start of the status of a trial that was enqueued but never run (cancelled while waiting):
# it has no record, and is neither counted nor run again.
NOT_RUN = "not run: "


def runs_again(status: str) -> bool:
    """Whether a failed trial of this status is run again on resume: Ctrl-C or an error that
    stopped the run ended it, not a reason of its own (a NaN loss)."""
    return status == INTERRUPTED or status.startswith(STOPPED)


ALL_IMAGES = 10**9  # the cost of a fidelity on all of a datamodule's (uncounted) images


def fidelity_cost(fidelity: str) -> int:
    """Image-epochs of a fidelity written ``EPOCHSxIMAGES``; 0 for ``""``.

    Example::

        >>> fidelity_cost("15x16000")
        240000
    """
    if not fidelity:
        return 0
    epochs, images = fidelity.split("x")
    return int(epochs) * (ALL_IMAGES if images == "all" else int(images))


@dataclass(frozen=True)
class TrialRecord:
    """What one trial was and measured.

    Units: accuracy in percent (of the validation split unless named ``test``), ``params`` a
    count, ``macs`` multiply-accumulates for one input, latency in milliseconds per image
    (batch 1, CPU), NetScore in dB.
    """

    trial: int
    state: str  # complete, pruned, fail, running or waiting (Optuna's state, lower case)
    architecture: Mapping[str, Any]  # Optuna's parameters of the space: the config, once
    status: str = ""
    worker: str = ""
    params: int | None = None
    macs: int | None = None
    latency_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_runtime: str = ""  # where latency was measured: torch, onnxruntime or executorch
    val_correct: int | None = None
    val_images: int | None = None
    epochs_trained: int = 0
    best_epoch: int | None = None
    train_seconds: float = 0.0
    checkpoint: str | None = None  # relative to the run's folder
    estimate: bool = False  # the accuracy is a weight-sharing supernet's estimate, not trained
    estimate_loss: float | None = None  # the estimate's mean cross-entropy
    confirms: int | None = None  # the estimate trial that this trained trial confirms
    reruns: int | None = None  # the trial (interrupted, or its worker stopped) run again
    # The fidelity of the accuracy: epochs trained x training images ("4x4000"); "" for an
    # estimate, or a trial of an older nsearch.
    fidelity: str = ""
    promotes: int | None = None  # the lower-fidelity trial whose network this trial trains on
    test_correct: int | None = None
    test_images: int | None = None

    @property
    def image_epochs(self) -> int:
        """The training cost of the accuracy's fidelity (epochs x images; 0 where unknown)."""
        return fidelity_cost(self.fidelity)

    @property
    def complete(self) -> bool:
        return self.state == "complete" and self.validation is not None

    @property
    def interrupted(self) -> bool:
        """Stopped by Ctrl-C or by an error that stopped the run (and run again, with the same
        architecture, on resume)."""
        return self.state == "fail" and runs_again(self.status)

    @property
    def trained(self) -> bool:
        """Complete, with an accuracy measured after training this network on its own."""
        return self.complete and not self.estimate

    @property
    def validation(self) -> Measured | None:
        if self.val_correct is None or not self.val_images:
            return None
        return Measured(self.val_correct, self.val_images)

    @property
    def test(self) -> Measured | None:
        if self.test_correct is None or not self.test_images:
            return None
        return Measured(self.test_correct, self.test_images)

    @property
    def accuracy_percent(self) -> float | None:
        return None if self.validation is None else self.validation.percent

    @property
    def accuracy_ci_low(self) -> float | None:
        return None if self.validation is None else self.validation.interval[0]

    @property
    def accuracy_ci_high(self) -> float | None:
        return None if self.validation is None else self.validation.interval[1]

    @property
    def test_accuracy_percent(self) -> float | None:
        return None if self.test is None else self.test.percent

    @property
    def test_ci_low(self) -> float | None:
        return None if self.test is None else self.test.interval[0]

    @property
    def test_ci_high(self) -> float | None:
        return None if self.test is None else self.test.interval[1]

    @property
    def params_millions(self) -> float | None:
        return None if self.params is None else self.params / 1e6

    @property
    def gmacs(self) -> float | None:
        return None if self.macs is None else self.macs / 1e9

    @property
    def netscore(self) -> float | None:
        """NetScore (dB) of the validation accuracy; -inf at 0 %."""
        a, p, m = self.accuracy_percent, self.params_millions, self.gmacs
        if a is None or p is None or m is None:
            return None
        return netscore_or_inf(a, p, m)

    @property
    def netscore_latency(self) -> float | None:
        """nsearch's latency NetScore (dB): measured milliseconds in place of GMACs."""
        a, p, lat = self.accuracy_percent, self.params_millions, self.latency_ms
        if a is None or p is None or lat is None:
            return None
        return netscore_or_inf(a, p, lat)

    @property
    def information_density(self) -> float | None:
        """Validation accuracy per million parameters, in percent per million (0 at 0 %)."""
        a, p = self.accuracy_percent, self.params_millions
        if a is None or p is None:
            return None
        return 0.0 if a == 0 else information_density(a, p)


# The names a trial may store as user attributes: the record's own measured fields.
STORED = frozenset(
    f.name
    for f in dataclasses.fields(TrialRecord)
    if f.name not in ("trial", "state", "architecture", "test_correct", "test_images")
)


def store(trial: optuna.Trial, **values: Any) -> None:
    """Store measurements on a running trial under the record's field names.

    Raises:
        KeyError: on a name that is not a stored field of :class:`TrialRecord`.
    """
    for name, value in values.items():
        if name not in STORED:
            raise KeyError(f"{name!r} is not a stored field of TrialRecord: {sorted(STORED)}.")
        trial.set_user_attr(name, value)


def write_test_result(out: Path, record: TrialRecord, test: Measured) -> None:
    """Keep a checkpoint's test accuracy beside it, so that it is measured once."""
    assert record.checkpoint is not None
    path = (out / record.checkpoint).parent / TEST_FILE
    path.write_text(json.dumps(dataclasses.asdict(test)))


def _read_test(out: Path | None, checkpoint: str | None) -> Measured | None:
    if out is None or checkpoint is None:
        return None
    path = (out / checkpoint).parent / TEST_FILE
    if not path.is_file():
        return None
    return Measured(**json.loads(path.read_text()))


def record_of(trial: optuna.trial.FrozenTrial, out: Path | None = None) -> TrialRecord:
    """The record of one frozen trial; ``out`` (the run's folder) supplies test results."""
    stored = {k: v for k, v in trial.user_attrs.items() if k in STORED}
    if "failed_trial" in trial.system_attrs:  # Optuna's retry of a trial whose worker stopped
        stored["reruns"] = trial.system_attrs["failed_trial"]
    test = _read_test(out, stored.get("checkpoint"))
    return TrialRecord(
        trial=trial.number,
        state=trial.state.name.lower(),
        architecture=dict(trial.params),
        test_correct=None if test is None else test.correct,
        test_images=None if test is None else test.images,
        **stored,
    )


def read_records(
    trials: optuna.Study | Iterable[optuna.trial.FrozenTrial], out: Path | None = None
) -> list[TrialRecord]:
    """One record per trial that got as far as counting its network, in trial order."""
    if isinstance(trials, optuna.Study):
        trials = trials.get_trials(deepcopy=False)
    return [record_of(t, out) for t in trials if "params" in t.user_attrs]


def finished_count(study: optuna.Study) -> int:
    """Trials that count towards ``--trials``: complete, pruned, and failed for a reason of
    their own (a NaN loss: status ``failed: ...``). A trial interrupted by Ctrl-C does not
    count, nor one that lost its worker (its retry counts instead), nor a trained confirmation
    of a supernet's estimate."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.system_attrs["failed_trial"] for t in trials if "failed_trial" in t.system_attrs}
    done = (TrialState.COMPLETE, TrialState.PRUNED)
    trials = [t for t in trials if t.user_attrs.get("confirms") is None
              and t.user_attrs.get("promotes") is None]  # fmt: skip
    return sum(
        t.state in done
        or (
            t.state == TrialState.FAIL
            and t.number not in retried
            and str(t.user_attrs.get("status", "")).startswith("failed:")
        )
        for t in trials
    )


def epochs_trained(study: optuna.Study) -> int:
    """Epochs trained by all of the study's trials so far."""
    return sum(int(t.user_attrs.get("epochs_trained", 0)) for t in study.get_trials(deepcopy=False))
