"""An architecture's identity: a key that differs between any two models that may compute
differently, used to cache what is measured per architecture (MACs, latency)."""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

__all__ = ["architecture_key", "value_key"]

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


def value_key(value: Any) -> str:
    """A stable text for an attribute value that may change what ``forward`` computes."""
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}:{value.dtype}"
    if isinstance(value, (bool, int, float, str, bytes, type(None))):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(value_key(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k!r}:{value_key(v)}" for k, v in value.items()) + "}"
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
            digest.update(f"{attribute}={value_key(value)};".encode())
        for kind_name, tensors in (("p", module._parameters), ("b", module._buffers)):
            for tensor_name, tensor in tensors.items():
                shape = None if tensor is None else (tuple(tensor.shape), tensor.dtype)
                digest.update(f"{kind_name}:{tensor_name}:{shape};".encode())
        digest.update(b")")
    return digest.hexdigest()
