"""NetScoreCallback: log NetScore and its parts at the end of every validation epoch."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

import nsearch
from nsearch.callbacks._compat import CALLBACK_BASES, rank_zero_warn

if TYPE_CHECKING:
    from torch import nn

    from nsearch.complexity import Convention

__all__ = ["NetScoreCallback"]

ACCURACY_KEYS = tuple(
    f"{stem}{suffix}"
    for stem in ("val_acc", "val_accuracy", "val/acc", "val/accuracy")
    for suffix in ("", "_epoch")
)
ACCURACY_UNITS = {"fraction": 100.0, "percent": 1.0}  # factor to percent
_UPPER = {"fraction": 1.0, "percent": 100.0}


class NetScoreCallback(*CALLBACK_BASES):  # type: ignore[misc]
    r"""Log NetScore (Wong, 2018) and its parts at the end of every validation epoch.

    Logged through ``pl_module.log`` (so every logger, ``trainer.callback_metrics``,
    ``ModelCheckpoint`` and ``EarlyStopping`` see them), under these names:

    - ``netscore``: NetScore in dB (``-inf`` when the accuracy is 0)
    - ``netscore_accuracy_percent``: top-1 validation accuracy, percent
    - ``netscore_params_millions``: parameters, millions
    - ``netscore_gmacs``: multiply-accumulates for one input, billions (conv + linear + matmul)
    - ``netscore_information_density``: accuracy per parameter, percent per million

    The accuracy is the one the module logs for the same epoch, also when the module logs it from
    its own ``on_validation_epoch_end`` (which Lightning runs after the callbacks' hook). Under
    distributed training it is averaged over processes first, so every process logs the same
    value. Parameters and MACs are counted with :func:`nsearch.count_complexity` on one input
    (``example_input_array``, or one sample of the first batch), once per architecture. The
    sanity check is skipped.

    Args:
        accuracy_key: the logged metric to read; by default the first of ``val_acc``,
            ``val_accuracy``, ``val/acc``, ``val/accuracy`` (or with ``_epoch``) that exists.
        accuracy_unit: ``"fraction"`` (in [0, 1], torchmetrics' convention) or ``"percent"``.
        input_shape: the shape of one input without the batch dimension; by default taken from
            ``example_input_array`` or the first batch.
        strict: if ``True``, a missing accuracy metric is an error; otherwise a warning, and the
            epoch is skipped.
        convention: the MAC counting convention of :func:`nsearch.count_complexity`.

    Raises:
        ValueError: on an argument outside its allowed values; at a validation epoch end, when no
            accuracy metric is found (``strict=True``) or its value is outside ``accuracy_unit``'s
            range.

    Example::

        >>> import pytorch_lightning as pl
        >>> from nsearch.callbacks import NetScoreCallback
        >>> trainer = pl.Trainer(callbacks=[NetScoreCallback()], logger=False)
    """

    def __init__(
        self,
        accuracy_key: str | None = None,
        *,
        accuracy_unit: str = "fraction",
        input_shape: tuple[int, ...] | None = None,
        strict: bool = True,
        convention: Convention = "torchvision",
    ) -> None:
        super().__init__()
        if accuracy_key is not None and (not isinstance(accuracy_key, str) or not accuracy_key):
            raise ValueError(f"`accuracy_key` must be a metric name or None, got {accuracy_key!r}.")
        if accuracy_unit not in ACCURACY_UNITS:
            raise ValueError(
                f"`accuracy_unit` can be {', '.join(ACCURACY_UNITS)}, got {accuracy_unit!r}."
            )
        if convention not in nsearch.complexity.CONVENTIONS:
            raise ValueError(
                f"`convention` can be {', '.join(nsearch.complexity.CONVENTIONS)}, "
                f"got {convention!r}."
            )
        if input_shape is not None and not (
            len(input_shape) > 0 and all(isinstance(d, int) and d > 0 for d in input_shape)
        ):
            raise ValueError(
                "`input_shape` must be the positive integer sizes of one input without the batch "
                f"dimension, such as (3, 32, 32), or None, got {input_shape!r}."
            )
        self.accuracy_key = accuracy_key
        self.accuracy_unit = accuracy_unit
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.strict = strict
        self.convention = convention
        self._wrapped: list[Any] = []

    @property
    def state_key(self) -> str:
        return self._generate_state_key(accuracy_key=self.accuracy_key)

    # Input shape: from `example_input_array`, else one sample of the first batch.

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.input_shape is None and isinstance(pl_module.example_input_array, torch.Tensor):
            self.input_shape = tuple(pl_module.example_input_array.shape[1:])
        self._wrap_module_hook(pl_module)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        for module, original in self._wrapped:
            if original is None:
                del module.on_validation_epoch_end
            else:
                module.on_validation_epoch_end = original
        self._wrapped.clear()

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, *args: Any) -> None:
        self._shape_from_batch(batch)

    def on_validation_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, *args: Any
    ) -> None:
        self._shape_from_batch(batch)

    def _shape_from_batch(self, batch: Any) -> None:
        if self.input_shape is not None:
            return
        while isinstance(batch, (list, tuple)) and batch:
            batch = batch[0]
        if isinstance(batch, Mapping) and batch:
            batch = next(iter(batch.values()))
        if isinstance(batch, torch.Tensor) and batch.dim() >= 2:
            self.input_shape = tuple(batch.shape[1:])

    # Lightning runs callback hooks before the module's hook of the same name, so a callback's
    # `on_validation_epoch_end` would see the accuracy of the previous epoch when the module logs
    # it from its own `on_validation_epoch_end`. The callback therefore does its work right after
    # the module's hook, where `self.log` is still allowed.

    def _wrap_module_hook(self, pl_module: Any) -> None:
        original = pl_module.__dict__.get("on_validation_epoch_end")
        module_hook = pl_module.on_validation_epoch_end

        def on_validation_epoch_end() -> None:
            module_hook()
            self._log_netscore(pl_module.trainer, pl_module)

        pl_module.on_validation_epoch_end = on_validation_epoch_end
        self._wrapped.append((pl_module, original))

    def _find_accuracy(self, metrics: Mapping[str, Any]) -> str | None:
        keys = (self.accuracy_key,) if self.accuracy_key else ACCURACY_KEYS
        return next((key for key in keys if key in metrics), None)

    def _log_netscore(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        key = self._find_accuracy(metrics)
        if key is None:
            wanted = self.accuracy_key or " or ".join(ACCURACY_KEYS)
            message = (
                f"NetScoreCallback could not find the accuracy metric `{wanted}`; the logged "
                f"metrics are: {', '.join(sorted(metrics)) or 'none'}. Log accuracy from "
                "`validation_step` or pass `accuracy_key=`."
            )
            if self.strict:
                raise RuntimeError(message)
            rank_zero_warn(message + " Skipping NetScore for this epoch.")
            return
        if self.input_shape is None:
            raise RuntimeError(
                "NetScoreCallback could not tell the input shape: set `example_input_array` on "
                "the module, or pass `input_shape=` (one input, without the batch dimension)."
            )
        value = torch.as_tensor(metrics[key], dtype=torch.float64, device=pl_module.device)
        accuracy = float(trainer.strategy.reduce(value, reduce_op="mean"))
        upper = _UPPER[self.accuracy_unit]
        if not 0.0 <= accuracy <= upper:
            hint = " Pass accuracy_unit='percent'." if self.accuracy_unit == "fraction" else ""
            raise ValueError(
                f"Accuracy `{key}` = {accuracy} is outside [0, {upper:g}], the range of "
                f"accuracy_unit={self.accuracy_unit!r}.{hint}"
            )
        accuracy_percent = accuracy * ACCURACY_UNITS[self.accuracy_unit]
        model: nn.Module = pl_module
        c = nsearch.count_complexity(model, self.input_shape, convention=self.convention)
        values = {
            "netscore": (
                nsearch.netscore(accuracy_percent, c.params_millions, c.gmacs)
                if accuracy_percent > 0
                else -math.inf
            ),
            "netscore_accuracy_percent": accuracy_percent,
            "netscore_params_millions": c.params_millions,
            "netscore_gmacs": c.gmacs,
            "netscore_information_density": (
                nsearch.information_density(accuracy_percent, c.params_millions)
                if accuracy_percent > 0
                else 0.0
            ),
        }
        for name, number in values.items():
            # Equal on every process already; syncing keeps Lightning from warning.
            pl_module.log(name, number, prog_bar=name == "netscore", on_epoch=True, sync_dist=True)

    def state_dict(self) -> dict[str, Any]:
        return {"input_shape": list(self.input_shape) if self.input_shape else None}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.input_shape is None and state_dict.get("input_shape"):
            self.input_shape = tuple(state_dict["input_shape"])
