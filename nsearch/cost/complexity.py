"""Parameter and multiply-accumulate (MAC) counting, with fvcore.

We count one fused multiply-add as one MAC, for one input at inference. By default only the
MACs of convolutions, linear layers and matrix products (including attention) are counted: the
convention of torchvision's ``_ops`` weight metadata and of
``torch.utils.flop_counter.FlopCounterMode`` / 2. ``convention="fvcore"`` adds everything else
fvcore counts (normalisation, pooling, upsampling). FLOPs are 2 x MACs.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from types import MappingProxyType
from typing import Any, Literal, Union

import torch
from torch import nn

from nsearch.cost._inputs import Call, Example, make_example, run_failure, tensors_in
from nsearch.cost.architecture import architecture_key, value_key

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
    example = make_example(model, inputs)
    tensors = tensors_in((example.args, example.kwargs))
    described = f"args={value_key(example.args)}|kwargs={value_key(example.kwargs)}"
    key = f"{architecture_key(model)}|{described}|{convention}|{tensors[0].device}" if cache else ""
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    try:
        traced = _trace_macs(model, example, convention)
    except Exception as error:  # the model could not run on the inputs
        raise ValueError(run_failure(example, error)) from error
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


def _trace_macs(model: nn.Module, example: Example, convention: str) -> dict[str, Any]:
    flags = {module: module.training for module in model.modules()}
    call, tensors = Call(model, example), tuple(tensors_in((example.args, example.kwargs)))
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
