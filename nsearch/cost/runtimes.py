"""How a network gets into each runtime that times or runs it: a ``torch.export`` program, an
ONNX file for ONNX Runtime, and an ExecuTorch program lowered to XNNPACK.

Each function writes one file from an ``nn.Module`` in eval mode (flags restored afterwards),
traced with a batch dimension that stays symbolic: ``torch.export`` treats sizes 0 and 1 as
constants (its "0/1 specialisation"), so an example batch of one is traced as two copies of it.
The ExecuTorch program needs an upper bound on the batch (:data:`EXECUTORCH_MAX_BATCH`): one
exported with an unbounded batch runs only at its traced size. The optional runtimes are the
``deploy`` extra (:mod:`nsearch.cost.extras` says so when one is missing).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nsearch.cost.extras import import_optional

__all__ = [
    "EXECUTORCH_MAX_BATCH",
    "batch_dim",
    "dense",
    "eval_mode",
    "executorch_method",
    "export_executorch",
    "export_onnx",
    "export_program",
    "exported",
    "lower_to_executorch",
]

# The largest batch an ExecuTorch program takes (its dynamic batch dimension needs a bound).
EXECUTORCH_MAX_BATCH = 64
@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode; every module's train/eval flag is restored afterwards."""
    flags = {module: module.training for module in model.modules()}
    try:
        yield model.eval()
    finally:
        for module, training in flags.items():
            module.training = training


def dense(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` with row-major strides.

    ``N x 1 x H x W`` images cut from an ``N x H x W x 1`` array count as contiguous and as
    channels-last at once; ExecuTorch reads the dim order from the strides, and a program traced
    on such a batch cannot run its int8 convolutions. Cheap enough for every timed call.

        >>> dense(torch.zeros(2, 4, 4, 1).permute(0, 3, 1, 2)).stride()
        (16, 16, 4, 1)
    """
    strides, step = [], 1
    for size in reversed(tensor.shape):
        strides.append(step)
        step *= size
    if tensor.stride() == tuple(reversed(strides)):
        return tensor
    return tensor.clone(memory_format=torch.contiguous_format)


def _tracing_example(example: torch.Tensor) -> torch.Tensor:
    """The example with a batch of at least two, so that the batch dimension stays symbolic."""
    if not isinstance(example, torch.Tensor) or example.dim() < 2:
        raise ValueError(
            f"`example` must be a batch of inputs (batch dimension first, e.g. 1 x 1 x 28 x 28), "
            f"got {example if not isinstance(example, torch.Tensor) else example.shape!r}."
        )
    example = dense(example.detach())
    return dense(example.expand(2, *example.shape[1:])) if len(example) < 2 else example


def batch_dim(max_batch: int | None = None) -> tuple[dict[int, torch.export.Dim]]:
    """``dynamic_shapes`` of one input whose first dimension is the batch, from 1 up to
    ``max_batch`` (unbounded where it is None)."""
    if max_batch is None:
        return ({0: torch.export.Dim("batch", min=1)},)
    return ({0: torch.export.Dim("batch", min=1, max=max_batch)},)


def exported(model: nn.Module, example: torch.Tensor,
             max_batch: int | None = None) -> torch.export.ExportedProgram:  # fmt: skip
    """``torch.export`` of ``model`` in eval mode, with a symbolic batch dimension."""
    example = _tracing_example(example)
    if any(p.dim() == 4 and not p.is_contiguous() for p in model.parameters()):
        # trained channels-last (as nsearch's Classifier trains): XNNPACK's lowering fails on
        # such weights ("ChannelsLastTaggedReshapePass"), so export a row-major copy
        model = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    with eval_mode(model):
        return torch.export.export(model, (example,), dynamic_shapes=batch_dim(max_batch))


def export_program(model: nn.Module, example: torch.Tensor, path: str | Path) -> Path:
    """Write ``model`` as a ``torch.export`` program that takes any batch size.

    Args:
        model: the network, exported in eval mode (its flags are restored afterwards).
        example: an example batch, batch dimension first; other dimensions are fixed.
        path: the file to write, by convention ``model.pt2``.

    Returns:
        ``path``; ``torch.export.load(path).module()`` is a module that takes any batch size.

    Raises:
        ValueError: if ``example`` is not a tensor with a batch dimension.
    """
    path = Path(path)
    torch.export.save(exported(model, example), path)
    return path


def export_onnx(
    model: nn.Module, example: torch.Tensor, path: str | Path, *, opset_version: int | None = None
) -> Path:
    """Write ``model`` as one ONNX file with a dynamic batch dimension, checked by ``onnx``.

    It uses torch's ``torch.export``-based exporter (``torch.onnx.export(..., dynamo=True)``),
    the default since torch 2.9. The input is named ``images`` and the output ``logits``;
    weights are stored inside the file, which limits it to 2 GB.

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
            dynamic_shapes=batch_dim(),
            opset_version=opset_version,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    onnx.checker.check_model(str(path), full_check=True)
    return path


@contextmanager
def _no_aten_conv_backends() -> Iterator[None]:
    """MKLDNN and NNPACK off while lowering: XNNPACK's passes re-run each convolution through
    fake tensors, and torch's choice of convolution backend ("is the batch >= 16?") would
    otherwise narrow a bounded batch dimension to 15, silently."""
    mkldnn, nnpack = torch._C._get_mkldnn_enabled(), torch._C._get_nnpack_enabled()
    torch._C._set_mkldnn_enabled(False)
    torch._C._set_nnpack_enabled(False)
    try:
        yield
    finally:
        torch._C._set_mkldnn_enabled(mkldnn)
        torch._C._set_nnpack_enabled(nnpack)


def lower_to_executorch(
    program: torch.export.ExportedProgram, path: str | Path, *, max_batch: int
) -> Path:
    """Lower an exported program (fp32, or int8 from PT2E) to XNNPACK and write the ``.pte``.

    Raises:
        ImportError: without executorch installed.
        RuntimeError: if the program's planned input does not take ``max_batch`` images.
    """
    import_optional("executorch")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    with _no_aten_conv_backends():
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        executable = lowered.to_executorch()
    plan = executable.executorch_program.execution_plan[0]
    planned = plan.values[plan.inputs[0]].val.sizes[0]
    if planned != max_batch:
        raise RuntimeError(
            f"The ExecuTorch program was planned for batches up to {planned}, not {max_batch}."
        )
    path = Path(path)
    path.write_bytes(executable.buffer)
    return path


def export_executorch(
    model: nn.Module,
    example: torch.Tensor,
    path: str | Path,
    *,
    max_batch: int = EXECUTORCH_MAX_BATCH,
) -> Path:
    """Write ``model`` as an ExecuTorch program lowered to XNNPACK, batch 1 to ``max_batch``.

    Raises:
        ValueError: if ``example`` is not a tensor with a batch dimension, or ``max_batch`` < 2.
        ImportError: without executorch installed.
    """
    if max_batch < 2:
        raise ValueError(f"`max_batch` must be at least 2, got {max_batch}.")
    return lower_to_executorch(exported(model, example, max_batch), path, max_batch=max_batch)


_executorch_threads: int | None = None


def executorch_method(path: str | Path, threads: int = 1) -> Callable[[torch.Tensor], Any]:
    """The ``forward`` of an ExecuTorch program, run by ExecuTorch's runtime with ``threads``
    threads: a function of an input batch (at most the program's batch bound) that returns the
    logits.

    ExecuTorch's thread pool is one per process, and changing it after a program has run is
    unsafe: the first call sets it, and a later call with another count is refused.

    Raises:
        ImportError: without executorch installed.
        ValueError: if this process already runs ExecuTorch with another thread count.
    """
    global _executorch_threads
    import_optional("executorch")
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    if _executorch_threads is None:
        portable_lib._unsafe_reset_threadpool(threads)
        _executorch_threads = threads
    elif _executorch_threads != threads:
        raise ValueError(
            f"ExecuTorch already runs with {_executorch_threads} thread(s) in this process; its "
            f"thread pool cannot be changed to {threads} (measure in another process)."
        )
    program = Runtime.get().load_program(Path(path))
    return _Forward(program, program.load_method("forward"))


class _Forward:
    """A loaded program's ``forward`` (the method needs its program alive)."""

    def __init__(self, program: Any, method: Any) -> None:
        self.program, self.method = program, method

    def __call__(self, batch: torch.Tensor) -> Any:
        return self.method.execute([dense(batch)])[0]
