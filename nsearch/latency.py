"""Measured inference latency of a network on this machine, cached by architecture.

The measurement follows ``torch.utils.benchmark.Timer.blocked_autorange``: a fixed thread count
for the whole measurement (restored afterwards), a warm-up, then blocks of calls whose size is
grown by tenfolds until the timer's own cost is under 0.1 % of a block and a block lasts at least
``min_run_time / 1000``; blocks are timed until ``min_run_time`` seconds have been measured and at
least 5 blocks exist. Statistics are over the blocks' time per call, in milliseconds, for one call
at ``batch_size``.
"""

from __future__ import annotations

import logging
import math
import statistics
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nsearch.complexity import architecture_key
from nsearch.machine import machine_description

log = logging.getLogger(__name__)

__all__ = ["RUNTIMES", "Latency", "clear_cache", "machine_description", "measure_latency"]

RUNTIMES: tuple[str, ...] = ("torch", "onnxruntime")
MIN_BLOCKS = 5
_WARMUP_CALLS = 2
_WARMUP_FRACTION = 0.25  # of min_run_time, spent calling the model before anything is timed
_MAX_OVERHEAD = 1e-3  # the timer's cost relative to a block
_CACHE_SIZE = 256
_cache: OrderedDict[str, Latency] = OrderedDict()


@dataclass(frozen=True)
class Latency:
    """How long one call of a network takes, measured on this machine.

    Attributes:
        median_ms: median time of one call at ``batch_size``, in milliseconds.
        p90_ms: 90th percentile of the time per call, in milliseconds.
        iqr_ms: interquartile range (75th minus 25th percentile) of the time per call, in ms.
        runs: the number of timed calls (warm-up excluded).
        blocks: the number of timed blocks; each block's time per call is one sample.
        runtime: ``"torch"`` or ``"onnxruntime"``.
        threads: the intra-op thread count during the measurement.
        batch_size: inputs per call.
        input_shape: the shape of one input, without the batch dimension.
        machine: the CPU it ran on, from ``machine_description()``.
    """

    median_ms: float
    p90_ms: float
    iqr_ms: float
    runs: int
    blocks: int
    runtime: str
    threads: int
    batch_size: int
    input_shape: tuple[int, ...]
    machine: str

    @property
    def per_image_ms(self) -> float:
        """Median time per input: ``median_ms / batch_size``."""
        return self.median_ms / self.batch_size


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


def _onnxruntime_call(model: nn.Module, batch: torch.Tensor, threads: int) -> Callable[[], Any]:
    try:
        import onnxruntime as ort
    except ImportError as error:
        raise ImportError(
            "`runtime='onnxruntime'` needs onnx, onnxscript and onnxruntime: "
            "pip install 'nsearch[deploy]'."
        ) from error
    from nsearch.deploy import export_onnx

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    with tempfile.TemporaryDirectory(prefix="nsearch-latency-") as folder:
        path = export_onnx(model, batch.cpu(), Path(folder) / "model.onnx")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: batch.cpu().numpy()}
    return lambda: session.run(None, feed)


def _measure(call: Callable[[], Any], min_run_time: float) -> tuple[int, list[float]]:
    """Warm up, choose a block size, and time blocks of calls.

    Returns:
        The block size (calls per block) and each block's time in seconds.
    """
    timer = time.perf_counter
    start = timer()
    calls, last = 0, 0.0
    while calls < _WARMUP_CALLS or timer() - start < _WARMUP_FRACTION * min_run_time:
        begin = timer()
        call()
        last = timer() - begin
        calls += 1
    empty = []
    for _ in range(5):
        begin = timer()
        empty.append(timer() - begin)
    overhead = statistics.median(empty)
    last = max(last, 1e-9)
    number = 1  # grow as blocked_autorange does, from the last warm-up call's time
    while (
        number * last < max(overhead / _MAX_OVERHEAD, min_run_time / 1000)
        and number * last * 10 <= min_run_time
        and number < 10**9
    ):
        number *= 10
    times: list[float] = []
    total = 0.0
    while total < min_run_time or len(times) < MIN_BLOCKS:
        begin = timer()
        for _ in range(number):
            call()
        times.append(timer() - begin)
        total += times[-1]
    return number, times


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
    With ``runtime="onnxruntime"`` the model is exported to ONNX (``nsearch.deploy.export_onnx``,
    a few seconds) and ``InferenceSession.run`` is timed, with ``intra_op_num_threads=threads``,
    one inter-op thread and sequential execution. A small network (1 ms a call) takes about
    ``1.25 * min_run_time`` seconds to measure.

    Args:
        model: any ``nn.Module`` that takes one tensor.
        inputs: the shape of one input without the batch dimension, e.g. ``(1, 28, 28)`` (random
            values in [0, 1], in the model's dtype and on its device), or an example input
            without the batch dimension, repeated ``batch_size`` times.
        runtime: ``"torch"`` or ``"onnxruntime"``.
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
    if runtime == "onnxruntime" and batch.device.type != "cpu":
        raise ValueError(
            f"`runtime='onnxruntime'` times CPU execution: move the model to the CPU, got it on "
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
        if runtime == "torch":
            call = _torch_call(model, batch)
        else:  # export outside inference mode: torch.export traces with autograd's knowledge
            call = _onnxruntime_call(model, batch, threads)
        with torch.inference_mode():
            number, times = _measure(call, min_run_time)
    finally:
        torch.set_num_threads(previous_threads)
        for module, training in flags.items():
            module.training = training
    per_call = [1000 * t / number for t in times]
    quartiles = statistics.quantiles(per_call, n=4, method="inclusive")
    result = Latency(
        median_ms=statistics.median(per_call),
        p90_ms=statistics.quantiles(per_call, n=10, method="inclusive")[8],
        iqr_ms=quartiles[2] - quartiles[0],
        runs=number * len(times),
        blocks=len(times),
        runtime=runtime,
        threads=threads,
        batch_size=batch_size,
        input_shape=shape,
        machine=machine_description(),
    )
    log.debug("Latency of %s: %s", type(model).__name__, result)
    if cache:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result
