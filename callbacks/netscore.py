"""NetScoreCallback: log NetScore and its parts at the end of every validation epoch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Union

import torch
from torch import nn

from nsearch.callbacks._after_module_hook import HOOK, AfterModuleHook
from nsearch.callbacks._compat import CALLBACK_BASES, overrides_hook, rank_zero_warn
from nsearch.core.metrics import information_density, netscore_or_inf
from nsearch.cost._inputs import dict_batch_failure
from nsearch.cost.complexity import CONVENTIONS, Complexity, count_complexity

if TYPE_CHECKING:
    from nsearch.cost.complexity import Convention, Inputs

__all__ = ["NetScoreCallback"]

ACCURACY_KEYS = tuple(
    f"{stem}{suffix}"
    for stem in ("val_acc", "val_accuracy", "val/acc", "val/accuracy")
    for suffix in ("", "_epoch")
)
FIRST_DATALOADER = "/dataloader_idx_0"  # Lightning's suffix with several validation dataloaders
ACCURACY_UNITS = {"fraction": 100.0, "percent": 1.0}  # factor to percent
_UPPER = {"fraction": 1.0, "percent": 100.0}
Network = Union[str, Callable[[Any], nn.Module], None]  # noqa: UP007 (a runtime alias)


class NetScoreCallback(*CALLBACK_BASES):  # type: ignore[misc]
    r"""Log NetScore (Wong, 2018) and its parts at the end of every validation epoch.

    Logged through ``pl_module.log`` (so every logger, ``trainer.callback_metrics``,
    ``ModelCheckpoint`` and ``EarlyStopping`` see them), under these names (each after
    ``prefix``):

    - ``netscore``: NetScore in dB (``-inf`` when the accuracy is 0)
    - ``netscore_accuracy_percent``: top-1 validation accuracy, percent
    - ``netscore_params_millions``: parameters, millions
    - ``netscore_gmacs``: multiply-accumulates for one input, billions (conv + linear + matmul)
    - ``netscore_information_density``: accuracy per parameter, percent per million

    The accuracy is the one the module logs for the same epoch, also when the module logs it from
    its own ``on_validation_epoch_end`` (which Lightning runs after the callbacks' hook: for a
    module that overrides that hook, the callback does its work right after it). Under distributed
    training it is averaged over processes first, so every process logs the same value.
    Parameters and MACs of ``network`` are counted with :func:`nsearch.count_complexity`, once
    per architecture, on ``input_shape``, else ``example_input_array`` (passed as it is: a tensor,
    tuple or dict), else one sample of the first batch. The sanity check is skipped. The module
    comes out of every fit as it went in, also when the fit fails; each fit starts afresh. The
    callback keeps no state in checkpoints.

    Two NetScore callbacks in one Trainer must log different names (``prefix``): Lightning
    would average two values logged under one name, so such a pair is refused at setup.

    Args:
        accuracy_key: the logged metric to read; by default the first of ``val_acc``,
            ``val_accuracy``, ``val/acc``, ``val/accuracy`` (or with ``_epoch``) that exists, or
            that of the first validation dataloader (``val_acc/dataloader_idx_0``).
        accuracy_unit: ``"fraction"`` (in [0, 1], torchmetrics' convention) or ``"percent"``.
        input_shape: the shape of one input without the batch dimension, for every fit; by
            default taken in each fit from ``example_input_array`` or the first batch.
        network: what to count: the whole LightningModule (``None``), the name of its attribute
            holding the deployed network (``"student"``, ``"model.backbone"``), or a function of
            the LightningModule that returns the ``nn.Module``. It must take the module's inputs.
        strict: if ``True``, a missing accuracy metric is an error; otherwise a warning, and the
            epoch is skipped.
        convention: the MAC counting convention of :func:`nsearch.count_complexity`.
        prefix: put before every logged name (``"student_"`` logs ``student_netscore``, ...).

    Raises:
        ValueError: on an argument outside its allowed values; at setup, when another NetScore
            callback of the Trainer logs the same names; at the start of a fit or the
            first validation epoch end, when ``network`` names nothing or not an ``nn.Module``;
            at a validation epoch end, when the accuracy is outside ``accuracy_unit``'s range.
        RuntimeError: at a validation epoch end, when no accuracy metric is found
            (``strict=True``) or the input shape cannot be told.

    Example::

        >>> import pytorch_lightning as pl
        >>> from nsearch.callbacks import NetScoreCallback
        >>> trainer = pl.Trainer(callbacks=[NetScoreCallback(network="student")], logger=False)
    """

    def __init__(
        self,
        accuracy_key: str | None = None,
        *,
        accuracy_unit: str = "fraction",
        input_shape: tuple[int, ...] | None = None,
        network: Network = None,
        strict: bool = True,
        convention: Convention = "torchvision",
        prefix: str = "",
    ) -> None:
        super().__init__()
        if accuracy_key is not None and (not isinstance(accuracy_key, str) or not accuracy_key):
            raise ValueError(f"`accuracy_key` must be a metric name or None, got {accuracy_key!r}.")
        if accuracy_unit not in ACCURACY_UNITS:
            raise ValueError(
                f"`accuracy_unit` can be {', '.join(ACCURACY_UNITS)}, got {accuracy_unit!r}."
            )
        if convention not in CONVENTIONS:
            raise ValueError(f"`convention` can be {', '.join(CONVENTIONS)}, got {convention!r}.")
        if not isinstance(prefix, str):
            raise ValueError(f"`prefix` must be a string, got {prefix!r}.")
        if input_shape is not None and not (
            len(input_shape) > 0 and all(isinstance(d, int) and d > 0 for d in input_shape)
        ):
            raise ValueError(
                "`input_shape` must be the positive integer sizes of one input without the batch "
                f"dimension, such as (3, 32, 32), or None, got {input_shape!r}."
            )
        if isinstance(network, nn.Module) or not (
            network is None or (isinstance(network, str) and network) or callable(network)
        ):
            got = (
                f"an nn.Module ({type(network).__name__})"
                if isinstance(network, nn.Module)
                else repr(network)
            )
            raise ValueError(
                "`network` must be None (the whole module), the name of the LightningModule's "
                "attribute that holds the network, or a function of the LightningModule that "
                f"returns it, got {got}."
            )
        self.accuracy_key = accuracy_key
        self.accuracy_unit = accuracy_unit
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.network = network
        self.strict = strict
        self.convention = convention
        self.prefix = prefix
        self._batch_shape: tuple[int, ...] | None = None  # found in this fit's first batch
        self._batch_keys: tuple[str, ...] = ()  # that batch's keys, where it was a dict

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        twins = [cb for cb in trainer.callbacks
                 if isinstance(cb, NetScoreCallback) and cb is not self
                 and cb.prefix == self.prefix]  # fmt: skip
        if twins:
            raise ValueError(
                f"This Trainer has {len(twins) + 1} NetScoreCallbacks that would all log "
                f"`{self.prefix}netscore` and its parts, which Lightning would average; keep "
                "one, or give each its own `prefix=` (e.g. NetScoreCallback(network='student', "
                "prefix='student_'))."
            )
        self._batch_shape, self._batch_keys = None, ()  # each fit starts afresh
        AfterModuleHook.remove_from(pl_module)

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._network(pl_module)  # a `network` that names nothing fails before training

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        AfterModuleHook.remove_from(pl_module)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        AfterModuleHook.remove_from(pl_module)

    # The input: `input_shape`, else `example_input_array`, else one sample of the first batch.

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, *args: Any) -> None:
        self._shape_from_batch(batch)

    def on_validation_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, *args: Any
    ) -> None:
        self._shape_from_batch(batch)

    def _shape_from_batch(self, batch: Any) -> None:
        if self._batch_shape is not None or self.input_shape is not None:
            return
        while isinstance(batch, (list, tuple)) and batch:
            batch = batch[0]
        keys: tuple[str, ...] = ()
        if isinstance(batch, Mapping) and batch:
            keys, batch = tuple(map(str, batch)), next(iter(batch.values()))
        if isinstance(batch, torch.Tensor) and batch.dim() >= 2:
            self._batch_shape, self._batch_keys = tuple(batch.shape[1:]), keys

    def _inputs(self, pl_module: Any) -> Inputs:
        if self.input_shape is not None:
            return self.input_shape
        if pl_module.example_input_array is not None:
            return pl_module.example_input_array
        if self._batch_shape is not None:
            return self._batch_shape
        raise RuntimeError(
            "NetScoreCallback could not tell the input shape: set `example_input_array` on the "
            "module, or pass `input_shape=` (one input, without the batch dimension)."
        )

    def _count(self, network: nn.Module, inputs: Inputs) -> Complexity:
        try:
            return count_complexity(network, inputs, convention=self.convention)
        except ValueError as error:
            if inputs is not self._batch_shape or not self._batch_keys:
                raise
            raise ValueError(dict_batch_failure(self._batch_keys, self._batch_shape, error)) \
                from error

    def _network(self, pl_module: Any) -> nn.Module:
        if self.network is None:
            return pl_module
        if callable(self.network):
            found = self.network(pl_module)
            if not isinstance(found, nn.Module):
                shown = None if found is None else f"a {type(found).__name__}"
                raise ValueError(f"`network`={self.network!r} returned {shown}, not an nn.Module.")
            return found
        found = pl_module
        for name in self.network.split("."):
            if not hasattr(found, name):
                raise ValueError(
                    f"`network`={self.network!r} names nothing on the module: "
                    f"{type(found).__name__} has no attribute {name!r}."
                )
            found = getattr(found, name)
        if not isinstance(found, nn.Module):
            raise ValueError(
                f"`network`={self.network!r} is not an nn.Module on the module, it is a "
                f"{type(found).__name__}."
            )
        return found

    # Lightning runs callback hooks before the module's hook of the same name. Accuracy logged
    # from `validation_step` is already there when this hook runs; accuracy that the module logs
    # from its own `on_validation_epoch_end` is not, so for a module with such a hook the work is
    # done right after it (see `AfterModuleHook`), where `self.log` is still allowed.

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        if overrides_hook(pl_module, HOOK):
            AfterModuleHook.add(pl_module, self)
        else:
            self._log_netscore(trainer, pl_module)

    def _find_accuracy(self, metrics: Mapping[str, Any]) -> str | None:
        if self.accuracy_key:
            keys: tuple[str, ...] = (self.accuracy_key,)
        else:
            keys = tuple(k + suffix for k in ACCURACY_KEYS for suffix in ("", FIRST_DATALOADER))
        return next((key for key in keys if key in metrics), None)

    def _missing_accuracy(self, metrics: Mapping[str, Any]) -> str:
        wanted = self.accuracy_key or " or ".join(ACCURACY_KEYS)
        message = (
            f"NetScoreCallback could not find the accuracy metric `{wanted}`; the logged metrics "
            f"are: {', '.join(sorted(metrics)) or 'none'}."
        )
        stems = (self.accuracy_key,) if self.accuracy_key else ACCURACY_KEYS
        per_loader = sorted(k for k in metrics if k.split("/dataloader_idx_")[0] in stems)
        if per_loader:
            return f"{message} It is logged per dataloader: pass `accuracy_key={per_loader[0]!r}`."
        return f"{message} Log accuracy from `validation_step` or pass `accuracy_key=`."

    def _log_netscore(self, trainer: Any, pl_module: Any) -> None:
        metrics = trainer.callback_metrics
        key = self._find_accuracy(metrics)
        if key is None:
            if self.strict:
                raise RuntimeError(self._missing_accuracy(metrics))
            rank_zero_warn(self._missing_accuracy(metrics) + " Skipping NetScore for this epoch.")
            return
        network, inputs = self._network(pl_module), self._inputs(pl_module)
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
        c = self._count(network, inputs)
        values = {
            "netscore": netscore_or_inf(accuracy_percent, c.params_millions, c.gmacs),
            "netscore_accuracy_percent": accuracy_percent,
            "netscore_params_millions": c.params_millions,
            "netscore_gmacs": c.gmacs,
            "netscore_information_density": (
                information_density(accuracy_percent, c.params_millions)
                if accuracy_percent > 0
                else 0.0
            ),
        }
        for name, number in values.items():
            # Equal on every process already; syncing keeps Lightning from warning.
            pl_module.log(self.prefix + name, number, prog_bar=name == "netscore", on_epoch=True,
                          sync_dist=True)  # fmt: skip
