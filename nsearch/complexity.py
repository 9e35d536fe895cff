"""Parameter and multiply-accumulate (MAC) counting, with fvcore.

We count one fused multiply-add as one MAC, for one input (batch size 1) at inference. By default
only the MACs of convolutions, linear layers and matrix products (including attention) are
counted: the convention of torchvision's ``_ops`` weight metadata and of
``torch.utils.flop_counter.FlopCounterMode`` / 2. ``convention="fvcore"`` adds everything else
fvcore counts (normalisation, pooling, upsampling). FLOPs are 2 x MACs.
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

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
        input_shape: the shape of one input, without the batch dimension.
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


def _fingerprint(model: nn.Module, shape: tuple[int, ...], convention: str, device: Any) -> str:
    return f"{architecture_key(model)}|{shape}|{convention}|{device}"


def _example_tensor(model: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    tensors = [*model.parameters(), *model.buffers()]
    device = tensors[0].device if tensors else torch.device("cpu")
    dtypes = [t.dtype for t in tensors if t.is_floating_point()]
    return torch.zeros((1, *shape), device=device, dtype=dtypes[0] if dtypes else torch.float32)


def count_complexity(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    convention: Convention = "torchvision",
    cache: bool = True,
) -> Complexity:
    """Count the parameters and MACs of ``model`` for one input of ``input_shape``.

    The model is traced once, in eval mode, on its own device, with a zero input of batch size 1;
    afterwards every module's train/eval flag is what it was, and nothing else (BatchNorm running
    statistics, gradients, device) is touched. Results are cached by architecture (module
    structure and tensor shapes), so counting the same architecture again costs next to nothing.

    Args:
        model: any ``nn.Module`` that takes one tensor.
        input_shape: the shape of one input without the batch dimension, e.g. ``(3, 224, 224)``.
        convention: ``"torchvision"`` counts the MACs of convolutions, linear layers and matrix
            products; ``"fvcore"`` also counts normalisation, pooling and upsampling.
        cache: reuse an earlier count of the same architecture.

    Raises:
        ValueError: if ``input_shape`` or ``convention`` is not allowed.

    Example::

        >>> from torch import nn
        >>> c = count_complexity(nn.Conv2d(3, 8, 3, padding=1), (3, 32, 32))
        >>> c.params, c.macs, c.flops
        (224, 221184, 442368)
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"`convention` can be {', '.join(CONVENTIONS)}, got {convention!r}.")
    shape = tuple(input_shape)
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(
            f"`input_shape` must be the positive integer sizes of one input without the batch "
            f"dimension, such as (3, 224, 224), got {input_shape!r}."
        )
    example = _example_tensor(model, shape)
    key = _fingerprint(model, shape, convention, example.device) if cache else ""
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    result = Complexity(
        params=count_params(model),
        convention=convention,
        input_shape=shape,
        **_trace_macs(model, example, convention),
    )
    if cache:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def _trace_macs(model: nn.Module, example: torch.Tensor, convention: str) -> dict[str, Any]:
    flags = {module: module.training for module in model.modules()}
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
                analysis = FlopCountAnalysis(model, example)
            else:  # conv + linear + matmul only; the rest is ignored, not "uncounted"
                analysis = JitModelAnalysis(model, example).set_op_handle(
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
