"""Synflow, the zero-cost proxy that scores an untrained network by its synaptic flow.

Synaptic flow (Tanaka et al., "Pruning neural networks without any data by iteratively conserving
synaptic flow", NeurIPS 2020) scores each weight by ``|weight * gradient|`` of the network's summed
output for an all-ones input, with every parameter made positive; summed over the network it is
the zero-cost NAS proxy of Abdelfattah et al. ("Zero-Cost Proxies for Lightweight NAS", ICLR
2021). :func:`synflow` follows their reference implementation, with batch norm removed and in
double precision, and also returns the share of weights whose score is exactly 0.

Networks with ReLU6 (``mobilenet``) saturate at 6 under the all-ones input and positive weights,
which stops the gradient to every layer before the last saturated one, so ``relu6_as_relu=True``
computes each ReLU6 as ReLU (the piecewise-linear network Tanaka et al.'s conservation argument
assumes).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Synflow:
    """A synflow score and the share (percent) of scored weights whose score is exactly 0."""

    score: float
    zero_percent: float


def _replace_modules(net: nn.Module, kind: type, make: Callable[[nn.Module], nn.Module]) -> None:
    """Replace, in place, every submodule of ``net`` that is a ``kind`` with ``make(module)``."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, kind):
                setattr(parent, name, make(child))


def synflow(
    model: nn.Module, input_shape: Sequence[int], *, relu6_as_relu: bool = False
) -> Synflow:
    """The synflow score of ``model`` (higher predicts more accurate), ``model`` left untouched.

    Synaptic flow (Tanaka et al., "Pruning neural networks without any data by iteratively
    conserving synaptic flow", NeurIPS 2020), summed over the network as the zero-cost NAS proxy
    of Abdelfattah et al. ("Zero-Cost Proxies for Lightweight NAS", ICLR 2021), following their
    reference implementation (``foresight/pruners/measures/synflow.py`` in mohsaied/zero-cost-nas,
    its ``synflow`` measure): on a copy of the network with every batch norm removed, every
    parameter replaced by its absolute value and everything in double precision, the sum of the
    output for one all-ones input is back-propagated, and the score is the sum of
    ``|weight * gradient|`` over the weights of the convolutions and linear layers. The copy runs
    in eval mode, so dropout is the identity (the reference's networks have none).

    Args:
        model: a freshly initialised network.
        input_shape: one input's shape, ``(C, H, W)``.
        relu6_as_relu: compute each ``nn.ReLU6`` as ``nn.ReLU`` (see the module docstring).
    """
    net = copy.deepcopy(model)
    _replace_modules(net, nn.modules.batchnorm._BatchNorm, lambda m: nn.Identity())
    if relu6_as_relu:
        _replace_modules(net, nn.ReLU6, lambda m: nn.ReLU(inplace=getattr(m, "inplace", False)))
    threads = torch.get_num_threads()
    # One image in double precision runs torch's slow convolution, hundreds of tiny parallel
    # regions; on a busy machine their threads' waits cost up to 10 s instead of 20 ms.
    torch.set_num_threads(1)
    try:
        return _linearised_synflow(net.double().eval(), input_shape)
    finally:
        torch.set_num_threads(threads)


def _linearised_synflow(net: nn.Module, input_shape: Sequence[int]) -> Synflow:
    """:func:`synflow` of ``net`` (without batch norm, in double precision), computed in place."""
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.abs_()
    net.zero_grad()
    net(torch.ones((1, *input_shape), dtype=torch.float64)).sum().backward()
    score = zeros = weights = 0.0
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                grad = layer.weight.grad  # None where the layer has no path to the output
                grad = torch.zeros_like(layer.weight) if grad is None else grad
                per_weight = (layer.weight * grad).abs()
                score += float(per_weight.sum())
                zeros += float((per_weight == 0).sum())
                weights += per_weight.numel()
    return Synflow(score, 100.0 * zeros / max(1.0, weights))
