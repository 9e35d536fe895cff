"""The files a device team takes away (:mod:`nsearch.parity` checks them with real runtimes).

- ``model.pt2``: a ``torch.export`` program (``torch.export.load(path).module()``), the PyTorch
  artefact to use first; it needs torch only, not nsearch.
- ``model.onnx``: ONNX from torch's ``torch.export``-based exporter, one file, input ``images``,
  output ``logits``, checked with ``onnx.checker``.

Both take float images ``N x C x H x W`` with any batch size ``N >= 1``. A batch dimension of
size 1 in the example would be specialised by ``torch.export`` (its "0/1 specialisation": sizes 0
and 1 are treated as constants), so both exporters trace with a batch of two copies of it.
TorchScript is not written: in torch 2.14
``torch.jit.trace`` and ``torch.jit.load`` warn (``FutureWarning``) that they are deprecated.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

__all__ = ["Normalized", "eval_mode", "export_onnx", "export_program", "import_optional"]


class Normalized(nn.Module):
    """Takes float images in [0, 1] and normalises them per channel before ``model``.

    Args:
        model: the network, trained on ``(image - mean) / std``.
        mean: per-channel mean, in [0, 1] units (e.g. 0.2860 for Fashion-MNIST).
        std: per-channel standard deviation, in [0, 1] units, each > 0.

    Raises:
        ValueError: if ``mean`` and ``std`` differ in length or are empty, or a ``std`` is <= 0.

    Example::

        >>> wrapped = Normalized(nn.Identity(), [0.5], [0.25])
        >>> wrapped(torch.ones(1, 1, 2, 2)).flatten().tolist()
        [2.0, 2.0, 2.0, 2.0]
    """

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or not mean:
            raise ValueError(
                f"`mean` and `std` must have one value per channel each, got {list(mean)!r} "
                f"and {list(std)!r}."
            )
        if not all(s > 0 for s in std):
            raise ValueError(f"`std` must be positive, got {list(std)!r}.")
        self.model = model
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([float(s) for s in std]).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def import_optional(name: str) -> ModuleType:
    """Import a module of the ``deploy`` extra, or say how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f"{name} is not installed; install the deploy extra: pip install 'nsearch[deploy]'."
        ) from error


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode; every module's train/eval flag is restored afterwards."""
    flags = {module: module.training for module in model.modules()}
    try:
        yield model.eval()
    finally:
        for module, training in flags.items():
            module.training = training


def _tracing_example(example: torch.Tensor) -> torch.Tensor:
    """The example with a batch of at least two, so that the batch dimension stays symbolic."""
    if not isinstance(example, torch.Tensor) or example.dim() < 2:
        raise ValueError(
            f"`example` must be a batch of inputs (batch dimension first, e.g. 1 x 1 x 28 x 28), "
            f"got {example if not isinstance(example, torch.Tensor) else example.shape!r}."
        )
    example = example.detach()
    return example.expand(2, *example.shape[1:]).contiguous() if len(example) < 2 else example


def _dynamic_batch() -> tuple[dict[int, torch.export.Dim]]:
    return ({0: torch.export.Dim("batch", min=1)},)


def export_program(model: nn.Module, example: torch.Tensor, path: str | Path) -> Path:
    """Write ``model`` as a ``torch.export`` program with a dynamic batch dimension.

    Args:
        model: the network, exported in eval mode (its flags are restored afterwards).
        example: an example batch, batch dimension first; other dimensions are fixed.
        path: the file to write, by convention ``model.pt2``.

    Returns:
        ``path``; ``torch.export.load(path).module()`` is a module that takes any batch size.

    Raises:
        ValueError: if ``example`` is not a tensor with a batch dimension.
    """
    example = _tracing_example(example)
    path = Path(path)
    with eval_mode(model):
        program = torch.export.export(model, (example,), dynamic_shapes=_dynamic_batch())
    torch.export.save(program, path)
    return path


def export_onnx(
    model: nn.Module, example: torch.Tensor, path: str | Path, *, opset_version: int | None = None
) -> Path:
    """Write ``model`` as one ONNX file with a dynamic batch dimension, checked by ``onnx``.

    It uses torch's ``torch.export``-based exporter (``torch.onnx.export(..., dynamo=True)``),
    the default since torch 2.9 (the TorchScript-based one warns that it will be removed). The
    input is named ``images`` and the output ``logits``; weights are stored inside the file, which
    limits it to 2 GB.

    Args:
        model: the network, exported in eval mode (its flags are restored afterwards).
        example: an example batch, batch dimension first; other dimensions are fixed.
        path: the file to write, by convention ``model.onnx``.
        opset_version: the ONNX opset; ``None`` lets torch choose.

    Returns:
        ``path``.

    Raises:
        ValueError: if ``example`` is not a tensor with a batch dimension.
        ImportError: without onnx and onnxscript installed.
    """
    onnx = import_optional("onnx")
    import_optional("onnxscript")
    example = _tracing_example(example)
    path = Path(path)
    with eval_mode(model):
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes=_dynamic_batch(),
            opset_version=opset_version,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    onnx.checker.check_model(str(path), full_check=True)
    return path
