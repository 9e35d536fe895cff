"""Parameter and multiply-accumulate (MAC) counting, with fvcore.

We count one fused multiply-add as one MAC, for one input at inference. By default only the
MACs of convolutions, linear layers and matrix products (including attention) are counted: the
convention of torchvision's ``_ops`` weight metadata and of
``torch.utils.flop_counter.FlopCounterMode`` / 2. ``convention="fvcore"`` adds everything else
fvcore counts (normalisation, pooling, upsampling). FLOPs are 2 x MACs.
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from types import MappingProxyType
from typing import Any, Literal, Union

import torch
from torch import nn

__all__ = [
    "CONVENTIONS",
    "Complexity",
    "architecture_key",
    "clear_cache",
    "count_complexity",
    "count_params",
]

Convention = Literal["torchvision", "fvcore"]
CONVENTIONS: tuple[str, ...] = ("torchvision", "fvcore")
# The shape of one input, or example inputs: a tensor, positional or keyword arguments.
Inputs = Union[Sequence[Any], torch.Tensor, Mapping[str, Any]]  # noqa: UP007 (a runtime alias)

# fvcore ops that are not multiply-accumulates of a convolution, linear layer or matrix product.
_NON_MAC_OPS = (
    "aten::batch_norm",
    "aten::group_norm",
    "aten::layer_norm",
    "aten::instance_norm",
    "aten::upsample_nearest2d",
    "aten::upsample_bilinear2d",
    "aten::adaptive_avg_pool2d",
    "aten::grid_sampler",
)


@dataclass(frozen=True)
class Complexity:
    """What a network costs for one input.

    Attributes:
        params: number of parameters (all of them, trainable or not).
        macs: multiply-accumulates for one input at inference, under ``convention``.
        input_shape: the shape of one input without the batch dimension (for example inputs of
            several tensors, the first tensor's).
        convention: ``"torchvision"`` (conv + linear + matmul) or ``"fvcore"`` (all fvcore counts).
        uncounted_ops: operator name -> number of calls that no counting rule covered.
    """

    params: int
    macs: int
    input_shape: tuple[int, ...]
    convention: str = "torchvision"
    uncounted_ops: Mapping[str, int] = field(default_factory=dict)

    @property
    def flops(self) -> int:
        """Floating-point operations: 2 x MACs."""
        return 2 * self.macs

    @property
    def params_millions(self) -> float:
        return self.params / 1e6

    @property
    def gmacs(self) -> float:
        """MACs in billions, the unit NetScore uses."""
        return self.macs / 1e9


_CACHE_SIZE = 256
_cache: OrderedDict[str, Complexity] = OrderedDict()


def clear_cache() -> None:
    """Forget every cached count (the next count of each architecture traces it again)."""
    _cache.clear()


def count_params(model: nn.Module) -> int:
    """Number of parameters of ``model``, shared parameters counted once."""
    return sum(p.numel() for p in model.parameters())


def _shape(value: Any) -> list[int]:
    return list(value.type().sizes())


def _sdpa_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """``scaled_dot_product_attention``: Q @ K^T and softmax(.) @ V, as FlopCounterMode does."""
    q, k, v = (_shape(x) for x in inputs[:3])
    batch = math.prod(q[:-2])
    length, dim, source, value_dim = q[-2], q[-1], k[-2], v[-1]
    return batch * length * source * (dim + value_dim)


_MODULE_INTERNALS = frozenset(vars(nn.Module()))  # nn.Module's own bookkeeping attributes
_framework_internals: dict[type, frozenset[str]] = {}


def _internals(kind: type) -> frozenset[str]:
    """Attributes that a framework base class (LightningModule) sets on every instance: its
    bookkeeping (trainer, current hook, device), not the architecture."""
    if kind not in _framework_internals:
        names: frozenset[str] = _MODULE_INTERNALS
        for base in kind.__mro__:
            if base.__name__ == "LightningModule" and base is not kind:
                names = names | frozenset(vars(base()))
                break
        _framework_internals[kind] = names
    return _framework_internals[kind]


def _plain_value(value: Any) -> str:
    """A stable text for an attribute value that may change what ``forward`` computes."""
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}:{value.dtype}"
    if isinstance(value, (bool, int, float, str, bytes, type(None))):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_plain_value(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k!r}:{_plain_value(v)}" for k, v in value.items()) + "}"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    return repr(value)  # other objects: their repr (an address makes the key unique: no reuse)


def architecture_key(model: nn.Module) -> str:
    """A key that differs between any two models that may compute differently.

    It covers, for every submodule, its class, its plain attributes (numbers, strings, flags,
    tuples, functions: anything ``forward`` might read, such as a repeat count), the number of
    hooks it holds, and the names, shapes and dtypes of its parameters and buffers. Two models
    get the same key only if they have the same structure and settings, so their parameter
    and MAC counts (and run times) are the same. Weights' values are not part of it.

    Example::

        >>> from torch import nn
        >>> architecture_key(nn.Linear(2, 3)) == architecture_key(nn.Linear(2, 3))
        True
        >>> architecture_key(nn.Linear(2, 3)) == architecture_key(nn.Linear(3, 2))
        False
    """
    digest = hashlib.sha1()
    for name, module in model.named_modules(remove_duplicate=False):
        kind = type(module)
        digest.update(f"[{name}]{kind.__module__}.{kind.__qualname__}(".encode())
        internals = _internals(kind)
        for attribute, value in sorted(vars(module).items()):
            if attribute in internals:  # bookkeeping; train/eval is set when counting or timing
                if attribute.endswith("hooks") and value:
                    digest.update(f"{attribute}#{len(value)};".encode())
                continue
            digest.update(f"{attribute}={_plain_value(value)};".encode())
        for kind_name, tensors in (("p", module._parameters), ("b", module._buffers)):
            for tensor_name, tensor in tensors.items():
                shape = None if tensor is None else (tuple(tensor.shape), tensor.dtype)
                digest.update(f"{kind_name}:{tensor_name}:{shape};".encode())
        digest.update(b")")
    return digest.hexdigest()


def _tensors(value: Any) -> list[torch.Tensor]:
    """The tensors in ``value`` (a tensor, or tuples, lists and dicts of them), in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _map_tensors(value: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    """``value`` with ``fn`` applied to each tensor in it; containers keep their types."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, (tuple, list)):
        items = [_map_tensors(v, fn) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, Mapping):
        return {k: _map_tensors(v, fn) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class _Example:
    """What the model is called with: ``model(*args, **kwargs)``, a batch of ``batch_size``."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    batch_size: int
    input_shape: tuple[int, ...]
    described: str  # for errors: "one input of shape (3, 64, 64)", "example inputs (...)"


class _Call(nn.Module):
    """Calls ``model`` with an example's arguments, taking and returning tensors only, as tracing
    needs (keyword arguments and constants such as ``scale=2.0`` are filled in here)."""

    def __init__(self, model: nn.Module, example: _Example) -> None:
        super().__init__()
        self.model = model
        self.structure = (example.args, example.kwargs)

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        supply = iter(tensors)
        args, kwargs = _map_tensors(self.structure, lambda _: next(supply))
        return tuple(_tensors(self.model(*args, **kwargs)))


def _example(model: nn.Module, inputs: Any) -> _Example:
    """Turn a shape of one input, or example inputs, into the call that counting traces."""
    tensors = [*model.parameters(), *model.buffers()]
    device = tensors[0].device if tensors else None
    dtype = next((t.dtype for t in tensors if t.is_floating_point()), None)
    if isinstance(inputs, (tuple, list)) and not _tensors(inputs):  # a shape
        shape = tuple(inputs)
        if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ValueError(
                "`inputs` must be the positive integer sizes of one input without the batch "
                f"dimension, such as (3, 224, 224), or example inputs, got {inputs!r}."
            )
        zeros = torch.zeros((1, *shape), device=device, dtype=dtype or torch.float32)
        return _Example((zeros,), {}, 1, shape, f"one input of shape {shape}")
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    if isinstance(inputs, torch.Tensor):
        args, kwargs = (inputs,), {}
    elif isinstance(inputs, (tuple, list)):
        args, kwargs = tuple(inputs), {}
    elif isinstance(inputs, Mapping) and all(isinstance(k, str) for k in inputs):
        args, kwargs = (), dict(inputs)
    else:
        raise ValueError(
            "`inputs` must be the shape of one input without the batch dimension, or example "
            "inputs (a tensor, a tuple or list of positional arguments, or a dict of keyword "
            f"arguments), got {inputs!r}."
        )

    def place(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=device, dtype=dtype if t.is_floating_point() else None)

    args, kwargs = _map_tensors((args, kwargs), place)
    shapes = [tuple(t.shape) for t in _tensors((args, kwargs))]
    batched = next((shape for shape in shapes if shape), ())  # the first one with dimensions
    if not batched or batched[0] == 0:
        raise ValueError(
            "`inputs` as example inputs must hold a tensor whose first dimension is a batch of at "
            f"least one input, got tensors of shapes {shapes}."
        )
    described = ", ".join(str(shape) for shape in shapes)
    return _Example(args, kwargs, batched[0], batched[1:], f"example inputs (shape {described})")


def _run_failure(example: _Example, error: Exception) -> str:
    """The message for a model that could not run on ``example``: what went wrong, what to pass."""
    cause = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}"
    message = f"The model could not run on {example.described} ({cause})"
    shape = example.input_shape
    if example.described.startswith("one input") and len(shape) >= 2:
        message += (
            f"; a shape is that of one input without the batch dimension (a batch of 1 is "
            f"added), so if {shape} includes the batch dimension, pass {shape[1:]}"
        )
    return message + "."


def count_complexity(
    model: nn.Module,
    inputs: Inputs,
    *,
    convention: Convention = "torchvision",
    cache: bool = True,
) -> Complexity:
    """Count the parameters of ``model`` and its MACs for one input.

    ``inputs`` is the shape of one input without the batch dimension (traced as a zero tensor of
    batch size 1), or example inputs with a batch dimension, as Lightning's ``example_input_array``
    holds them. Example inputs are traced as they are, moved to the model's device (floating-point
    tensors to its dtype), and the MACs of the whole example are divided by its batch size, the
    first dimension of its first tensor: exact whenever the cost grows linearly with the batch (as
    for convolutions, linear layers and attention); give a batch of 1 to count exactly otherwise.

    The model is traced once, in eval mode, on its own device; afterwards every module's
    train/eval flag is what it was, and nothing else (BatchNorm running statistics, gradients,
    device) is touched. Results are cached by :func:`architecture_key`, the inputs' shapes, dtypes
    and other values, the convention and the device.

    Args:
        model: any ``nn.Module``, with its tensors materialised (not on the meta device).
        inputs: the shape of one input without the batch dimension, e.g. ``(3, 224, 224)`` (a
            tuple or list without tensors); or example inputs: a tensor (the one argument), a
            tuple or list (positional arguments) or a dict (keyword arguments).
        convention: ``"torchvision"`` counts the MACs of convolutions, linear layers and matrix
            products; ``"fvcore"`` also counts normalisation, pooling and upsampling.
        cache: reuse an earlier count of the same architecture and inputs.

    Raises:
        ValueError: if ``inputs`` or ``convention`` is not allowed, if the model has tensors on
            the meta device, or if the model fails to run on the inputs (the original error is
            the cause).

    Example::

        >>> import torch
        >>> from torch import nn
        >>> c = count_complexity(nn.Conv2d(3, 8, 3, padding=1), (3, 32, 32))
        >>> c.params, c.macs, c.flops
        (224, 221184, 442368)
        >>> count_complexity(nn.Conv2d(3, 8, 3, padding=1), torch.rand(4, 3, 32, 32)) == c
        True
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"`convention` can be {', '.join(CONVENTIONS)}, got {convention!r}.")
    meta = next(
        (n for n, t in chain(model.named_parameters(), model.named_buffers()) if t.is_meta), None
    )
    if meta is not None:
        raise ValueError(
            f"`model` has tensors on the meta device (`{meta}`), which hold no data, so it cannot "
            'run; materialise it first, e.g. model.to_empty(device="cpu").'
        )
    example = _example(model, inputs)
    tensors = _tensors((example.args, example.kwargs))
    described = f"args={_plain_value(example.args)}|kwargs={_plain_value(example.kwargs)}"
    key = f"{architecture_key(model)}|{described}|{convention}|{tensors[0].device}" if cache else ""
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    try:
        traced = _trace_macs(model, example, convention)
    except Exception as error:  # the model could not run on the inputs
        raise ValueError(_run_failure(example, error)) from error
    result = Complexity(
        params=count_params(model),
        macs=round(traced["macs"] / example.batch_size),
        input_shape=example.input_shape,
        convention=convention,
        uncounted_ops=traced["uncounted_ops"],
    )
    if cache:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def _trace_macs(model: nn.Module, example: _Example, convention: str) -> dict[str, Any]:
    flags = {module: module.training for module in model.modules()}
    call, tensors = _Call(model, example), tuple(_tensors((example.args, example.kwargs)))
    fvcore_logger = logging.getLogger("fvcore")
    level = fvcore_logger.level
    try:
        model.eval()
        fvcore_logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # fvcore imports slowly (and warns about torch.jit); only tracing needs it.
            from fvcore.nn import FlopCountAnalysis, jit_handles
            from fvcore.nn.jit_analysis import JitModelAnalysis

            if convention == "fvcore":
                analysis = FlopCountAnalysis(call, tensors)
            else:  # conv + linear + matmul only; the rest is ignored, not "uncounted"
                analysis = JitModelAnalysis(call, tensors).set_op_handle(
                    **dict.fromkeys(_NON_MAC_OPS),
                    **{
                        "aten::_convolution": jit_handles.conv_flop_jit,
                        "aten::addmm": jit_handles.addmm_flop_jit,
                        "aten::bmm": jit_handles.bmm_flop_jit,
                        "aten::einsum": jit_handles.einsum_flop_jit,
                        "aten::matmul": jit_handles.matmul_flop_jit,
                        "aten::mm": jit_handles.matmul_flop_jit,
                        "aten::linear": jit_handles.linear_flop_jit,
                    },
                )
            analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_macs)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            analysis.tracer_warnings("none")
            macs = int(analysis.total())
            uncounted = dict(sorted(analysis.unsupported_ops().items()))
    finally:
        fvcore_logger.setLevel(level)
        for module, training in flags.items():
            module.training = training
    return {"macs": macs, "uncounted_ops": MappingProxyType(uncounted)}
