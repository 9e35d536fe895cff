"""Timing a call as ``torch.utils.benchmark.Timer.blocked_autorange`` does, and the record of
what was measured.

A warm-up, then blocks of calls whose size is grown by tenfolds until the timer's own cost is
under 0.1 % of a block and a block lasts at least ``min_run_time / 1000``; blocks are timed until
``min_run_time`` seconds have been measured and at least 5 blocks exist. Statistics are over the
blocks' time per call, in milliseconds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nsearch.cost.machine import machine_description

__all__ = ["MIN_BLOCKS", "Latency", "time_call"]

MIN_BLOCKS = 5
_WARMUP_CALLS = 2
_WARMUP_FRACTION = 0.25  # of min_run_time, spent calling the model before anything is timed
_MAX_OVERHEAD = 1e-3  # the timer's cost relative to a block


@dataclass(frozen=True)
class Latency:
    """How long one call of a network takes, measured on this machine.

    Attributes:
        median_ms: median time of one call at ``batch_size``, in milliseconds.
        p90_ms: 90th percentile of the time per call, in milliseconds.
        iqr_ms: interquartile range (75th minus 25th percentile) of the time per call, in ms.
        runs: the number of timed calls (warm-up excluded).
        blocks: the number of timed blocks; each block's time per call is one sample.
        runtime: ``"torch"``, ``"onnxruntime"`` or ``"executorch"`` (a ``.pte`` on XNNPACK).
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


def time_call(
    call: Callable[[], Any],
    min_run_time: float,
    *,
    runtime: str,
    threads: int,
    batch_size: int,
    input_shape: tuple[int, ...],
) -> Latency:
    """Time ``call`` (one call at ``batch_size``) and summarise it as a :class:`Latency`."""
    number, times = _measure(call, min_run_time)
    per_call = [1000 * t / number for t in times]
    quartiles = statistics.quantiles(per_call, n=4, method="inclusive")
    return Latency(
        median_ms=statistics.median(per_call),
        p90_ms=statistics.quantiles(per_call, n=10, method="inclusive")[8],
        iqr_ms=quartiles[2] - quartiles[0],
        runs=number * len(times),
        blocks=len(times),
        runtime=runtime,
        threads=threads,
        batch_size=batch_size,
        input_shape=input_shape,
        machine=machine_description(),
    )
