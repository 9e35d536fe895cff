"""Measured inference latency of a network on this machine, in the runtime that will run it,
cached by architecture.

Three runtimes (:data:`RUNTIMES`): eager PyTorch, ONNX Runtime (the network exported to ONNX),
and ExecuTorch with the XNNPACK backend (the network lowered to a ``.pte``, as on a phone or a
board). For networks this small, eager PyTorch at batch 1 is mostly per-operator overhead; the
exported runtimes time the network the device would run. The timing itself is
:func:`~nsearch.cost.timing.time_call` (``blocked_autorange``'s method), with a fixed thread
count for the whole measurement (restored afterwards).
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nsearch.cost.architecture import architecture_key
from nsearch.cost.extras import import_optional
from nsearch.cost.runtimes import executorch_method, export_executorch, export_onnx
from nsearch.cost.timing import MIN_BLOCKS, Latency, time_call

log = logging.getLogger(__name__)

__all__ = ["MIN_BLOCKS", "RUNTIMES", "Latency", "clear_cache", "measure_file_latency",
           "measure_latency"]  # fmt: skip

RUNTIMES: tuple[str, ...] = ("torch", "onnxruntime", "executorch")
_CACHE_SIZE = 256
_cache: OrderedDict[str, Latency] = OrderedDict()


def clear_cache() -> None:
    """Forget every cached measurement (the next one of each architecture runs again)."""
    _cache.clear()


def _check(runtime: str, threads: int | None, batch_size: int, min_run_time: float) -> None:
    if runtime not in RUNTIMES:
        raise ValueError(f"`runtime` can be {', '.join(RUNTIMES)}, got {runtime!r}.")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"`threads` must be an integer >= 1 or None, got {threads!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}.")
    if not isinstance(min_run_time, (int, float)) or not 0 < min_run_time < math.inf:
        raise ValueError(
            f"`min_run_time` must be a positive number of seconds, got {min_run_time!r}."
        )


def _example_batch(
    model: nn.Module, inputs: Sequence[int] | torch.Tensor, batch_size: int
) -> torch.Tensor:
    """A batch of ``batch_size`` inputs on the model's device, in its floating dtype."""
    if isinstance(inputs, torch.Tensor):
        if inputs.dim() == 0:
            raise ValueError(
                "`inputs` must be one input without the batch dimension, got a 0-d tensor."
            )
        return inputs.detach().unsqueeze(0).expand(batch_size, *inputs.shape).contiguous()
    shape = tuple(inputs)
    if not shape or not all(type(d) is int and d > 0 for d in shape):
        raise ValueError(
            f"`inputs` must be the positive integer sizes of one input without the batch "
            f"dimension, such as (1, 28, 28), or an example tensor, got {inputs!r}."
        )
    tensors = [*model.parameters(), *model.buffers()]
    device = tensors[0].device if tensors else torch.device("cpu")
    dtypes = [t.dtype for t in tensors if t.is_floating_point()]
    generator = torch.Generator().manual_seed(0)
    batch = torch.rand((batch_size, *shape), generator=generator)
    return batch.to(device=device, dtype=dtypes[0] if dtypes else torch.float32)


def _torch_call(model: nn.Module, batch: torch.Tensor) -> Callable[[], Any]:
    if batch.device.type == "cuda":

        def call() -> Any:
            out = model(batch)
            torch.cuda.synchronize(batch.device)
            return out

        return call
    return lambda: model(batch)


def _onnxruntime_file_call(path: Path, batch: torch.Tensor, threads: int) -> Callable[[], Any]:
    ort = import_optional("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: batch.cpu().numpy()}
    return lambda: session.run(None, feed)


def _executorch_file_call(path: Path, batch: torch.Tensor, threads: int) -> Callable[[], Any]:
    forward = executorch_method(path, threads)
    return lambda: forward(batch)


_FILE_CALLS = {"onnxruntime": _onnxruntime_file_call, "executorch": _executorch_file_call}


def _runtime_call(runtime: str, model: nn.Module, batch: torch.Tensor, threads: int,
                  folder: Path) -> Callable[[], Any]:  # fmt: skip
    """A call of ``model`` on ``batch`` in ``runtime`` (exported into ``folder`` first)."""
    if runtime == "torch":
        return _torch_call(model, batch)
    if runtime == "onnxruntime":
        path = export_onnx(model, batch.cpu(), folder / "model.onnx")
    else:
        path = export_executorch(model, batch.cpu(), folder / "model.pte",
                                 max_batch=max(2, len(batch)))  # fmt: skip
    return _FILE_CALLS[runtime](path, batch, threads)


def measure_latency(
    model: nn.Module,
    inputs: Sequence[int] | torch.Tensor,
    *,
    runtime: str = "torch",
    threads: int | None = None,
    batch_size: int = 1,
    min_run_time: float = 0.2,
    cache: bool = True,
) -> Latency:
    """Measure how long one forward call of ``model`` takes at ``batch_size``, on this machine.

    The model runs in eval mode under ``torch.inference_mode`` (no autograd); afterwards every
    module's train/eval flag and torch's thread count are what they were, whatever happens.
    With ``runtime="executorch"`` the model is exported and lowered to XNNPACK
    (:func:`~nsearch.cost.runtimes.export_executorch`, 20-40 s on two cores) and run by
    ExecuTorch's runtime, whose thread pool is set once per process. With
    ``runtime="onnxruntime"`` the model is exported to ONNX
    (:func:`~nsearch.cost.runtimes.export_onnx`, a few seconds) and ``InferenceSession.run`` is
    timed, with ``intra_op_num_threads=threads``, one inter-op thread and sequential execution. A
    small network (1 ms a call) takes about ``1.25 * min_run_time`` seconds to measure.

    Args:
        model: any ``nn.Module`` that takes one tensor.
        inputs: the shape of one input without the batch dimension, e.g. ``(1, 28, 28)`` (random
            values in [0, 1], in the model's dtype and on its device), or an example input
            without the batch dimension, repeated ``batch_size`` times.
        runtime: ``"torch"``, ``"onnxruntime"`` or ``"executorch"``.
        threads: intra-op threads during the measurement; ``None`` keeps torch's current count.
        batch_size: inputs per call.
        min_run_time: seconds of timed calls at least (warm-up not included).
        cache: reuse an earlier measurement of the same architecture (module structure and
            tensor shapes), input, runtime, threads, batch size and ``min_run_time``.

    Raises:
        ValueError: if an argument is not allowed, or ``runtime="onnxruntime"`` is asked for a
            model that is not on the CPU.
        ImportError: for ``runtime="onnxruntime"`` without onnxruntime installed.

    Example::

        >>> from torch import nn
        >>> latency = measure_latency(nn.Conv2d(1, 4, 3), (1, 28, 28), threads=1, min_run_time=0.01)
        >>> latency.median_ms > 0, latency.p90_ms >= latency.median_ms, latency.threads
        (True, True, 1)
    """
    _check(runtime, threads, batch_size, min_run_time)
    batch = _example_batch(model, inputs, batch_size)
    if runtime != "torch" and batch.device.type != "cpu":
        raise ValueError(
            f"`runtime={runtime!r}` times CPU execution: move the model to the CPU, got it on "
            f"{batch.device}."
        )
    threads = torch.get_num_threads() if threads is None else threads
    shape = tuple(batch.shape[1:])
    key = ""
    if cache:
        where = f"{batch.dtype}|{batch.device}|{runtime}|{threads}|{batch_size}|{min_run_time!r}"
        key = f"{architecture_key(model)}|{shape}|{where}"
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    flags = {module: module.training for module in model.modules()}
    previous_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        model.eval()
        with tempfile.TemporaryDirectory(prefix="nsearch-latency-") as folder:
            # export outside inference mode: torch.export traces with autograd's knowledge
            call = _runtime_call(runtime, model, batch, threads, Path(folder))
            with torch.inference_mode():
                result = time_call(call, min_run_time, runtime=runtime, threads=threads,
                                   batch_size=batch_size, input_shape=shape)  # fmt: skip
    finally:
        torch.set_num_threads(previous_threads)
        for module, training in flags.items():
            module.training = training
    log.debug("Latency of %s: %s", type(model).__name__, result)
    if cache:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def measure_file_latency(
    path: str | Path,
    input_shape: Sequence[int],
    *,
    runtime: str,
    threads: int = 1,
    batch_size: int = 1,
    min_run_time: float = 0.2,
) -> Latency:
    """Measure a model file in its runtime: an ONNX file in ONNX Runtime, a ``.pte`` in
    ExecuTorch (an int8 one, say), as :func:`measure_latency` measures a network.

    Raises:
        ValueError: if an argument is not allowed, or ``runtime`` is ``"torch"``.
        ImportError: without the runtime installed.
    """
    _check(runtime, threads, batch_size, min_run_time)
    if runtime not in _FILE_CALLS:
        raise ValueError(f"`runtime` can be {', '.join(_FILE_CALLS)} for a file, got {runtime!r}.")
    shape = tuple(input_shape)
    batch = torch.rand((batch_size, *shape), generator=torch.Generator().manual_seed(0))
    previous_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        call = _FILE_CALLS[runtime](Path(path), batch, threads)
        return time_call(call, min_run_time, runtime=runtime, threads=threads,
                         batch_size=batch_size, input_shape=shape)  # fmt: skip
    finally:
        torch.set_num_threads(previous_threads)
