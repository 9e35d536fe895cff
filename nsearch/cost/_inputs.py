"""What a model is called with when it is counted: a shape of one input, or example inputs
(a tensor, positional or keyword arguments, as Lightning's ``example_input_array``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = [
    "Call", "Example", "dict_input_hint", "make_example", "map_tensors", "run_failure",
    "tensors_in",
]  # fmt: skip


def tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors in ``value`` (a tensor, or tuples, lists and dicts of them), in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in tensors_in(v)]
    return []


def map_tensors(value: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    """``value`` with ``fn`` applied to each tensor in it; containers keep their types."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, (tuple, list)):
        items = [map_tensors(v, fn) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, Mapping):
        return {k: map_tensors(v, fn) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Example:
    """What the model is called with: ``model(*args, **kwargs)``, a batch of ``batch_size``."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    batch_size: int
    input_shape: tuple[int, ...]
    described: str  # for errors: "one input of shape (3, 64, 64)", "example inputs (...)"


class Call(nn.Module):
    """Calls ``model`` with an example's arguments, taking and returning tensors only, as tracing
    needs (keyword arguments and constants such as ``scale=2.0`` are filled in here)."""

    def __init__(self, model: nn.Module, example: Example) -> None:
        super().__init__()
        self.model = model
        self.structure = (example.args, example.kwargs)

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        supply = iter(tensors)
        args, kwargs = map_tensors(self.structure, lambda _: next(supply))
        return tuple(tensors_in(self.model(*args, **kwargs)))


def make_example(model: nn.Module, inputs: Any) -> Example:
    """Turn a shape of one input, or example inputs, into the call that counting traces."""
    tensors = [*model.parameters(), *model.buffers()]
    device = tensors[0].device if tensors else None
    dtype = next((t.dtype for t in tensors if t.is_floating_point()), None)
    if isinstance(inputs, (tuple, list)) and not tensors_in(inputs):  # a shape
        shape = tuple(inputs)
        if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ValueError(
                "`inputs` must be the positive integer sizes of one input without the batch "
                f"dimension, such as (3, 224, 224), or example inputs, got {inputs!r}."
            )
        zeros = torch.zeros((1, *shape), device=device, dtype=dtype or torch.float32)
        return Example((zeros,), {}, 1, shape, f"one input of shape {shape}")
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

    args, kwargs = map_tensors((args, kwargs), place)
    shapes = [tuple(t.shape) for t in tensors_in((args, kwargs))]
    batched = next((shape for shape in shapes if shape), ())  # the first one with dimensions
    if not batched or batched[0] == 0:
        raise ValueError(
            "`inputs` as example inputs must hold a tensor whose first dimension is a batch of at "
            f"least one input, got tensors of shapes {shapes}."
        )
    described = ", ".join(str(shape) for shape in shapes)
    return Example(args, kwargs, batched[0], batched[1:], f"example inputs (shape {described})")


def dict_input_hint(shapes: Mapping[str, tuple[int, ...]]) -> str:
    """How to give example inputs to a ``forward`` that takes one dict (``shapes``: each key's
    tensor shape, batch dimension first).

    Example::

        >>> dict_input_hint({"x": (1, 3, 32, 32)})
        "pass the dict inside a tuple as example inputs (Lightning's `example_input_array`), such as ({'x': torch.zeros(1, 3, 32, 32)},); a dict on its own is passed as keyword arguments"
    """  # noqa: E501
    shown = ", ".join(f"{key!r}: torch.zeros{tuple(shape)}" for key, shape in shapes.items())
    return (
        "pass the dict inside a tuple as example inputs (Lightning's `example_input_array`), "
        f"such as ({{{shown}}},); a dict on its own is passed as keyword arguments"
    )


def run_failure(example: Example, error: Exception) -> str:
    """The message for a model that could not run on ``example``: what went wrong, what to pass."""
    cause = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}"
    message = f"The model could not run on {example.described} ({cause})"
    shape = example.input_shape
    if example.kwargs and not example.args and "keyword argument" in str(error):
        shapes = {k: tuple(v.shape) for k, v in example.kwargs.items() if torch.is_tensor(v)}
        message += f"; if forward takes one dict, {dict_input_hint(shapes)}"
    elif example.described.startswith("one input") and len(shape) >= 2:
        message += (
            f"; a shape is that of one input without the batch dimension (a batch of 1 is "
            f"added), so if {shape} includes the batch dimension, pass {shape[1:]}"
        )
    return message + "."


def dict_batch_failure(keys: Sequence[str], shape: tuple[int, ...], error: BaseException) -> str:
    """Why a network could not be counted on an input shaped as the first value of a dict batch
    with ``keys``, and how to give it the dict instead."""
    cause = error.__cause__ or error  # most likely a forward that takes the dict
    return (
        f"NetScoreCallback could not run the network on one input of shape {shape}, taken from "
        f"the first batch, a dict with keys {', '.join(map(repr, keys))} "
        f"({type(cause).__name__}: {str(cause).strip().partition(chr(10))[0]}). If `forward` "
        f"takes that dict, {dict_input_hint({keys[0]: (1, *shape)})}."
    )
