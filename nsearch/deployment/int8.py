"""The int8 models of a bundle, each quantized, run by its runtime on every test image, and
compared with the fp32 model: test accuracy with its interval, top-1 agreement, size, latency,
and whether the two accuracies can be told apart."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from nsearch.core.metrics import Measured, difference_interval
from nsearch.cost.latency import measure_file_latency
from nsearch.deployment.description import Int8Result
from nsearch.deployment.parity import logits_in_fresh_process, onnx_logits
from nsearch.deployment.quantization import (
    ONNX_SCHEME,
    XNNPACK_SCHEME,
    quantize_executorch,
    quantize_onnx,
)

__all__ = ["int8_executorch", "int8_onnx"]

LATENCY_THREADS = 1


def _result(file: Path, runtime: str, scheme: str, logits: torch.Tensor, labels: torch.Tensor,
            reference: torch.Tensor, fp32: Path) -> Int8Result:  # fmt: skip
    predicted = logits.argmax(1)
    test = Measured(int((predicted == labels).sum()), len(labels))
    fp32_test = Measured(int((reference.argmax(1) == labels).sum()), len(labels))
    return Int8Result(
        file=file.name,
        runtime=runtime,
        scheme=scheme,
        test=test,
        agreement=int((predicted == reference.argmax(1)).sum()),
        file_bytes=file.stat().st_size,
        fp32_file_bytes=fp32.stat().st_size,
        latency=None,
        difference_ci95_points=difference_interval((test.correct, test.images),
                                                   (fp32_test.correct, fp32_test.images)),
    )  # fmt: skip


def _with_latency(result: Int8Result, file: Path, shape: tuple[int, ...]) -> Int8Result:
    latency = measure_file_latency(file, shape, runtime=result.runtime, threads=LATENCY_THREADS)
    return dataclasses.replace(result, latency=latency)


def _evaluate(quantize: Callable[[], Path], run: Callable[[Path], torch.Tensor], runtime: str,
              scheme: str, images: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor,
              fp32: Path) -> Int8Result:  # fmt: skip
    file = quantize()
    result = _result(file, runtime, scheme, run(file), labels, reference, fp32)
    return _with_latency(result, file, tuple(images.shape[1:]))


def int8_executorch(wrapped: nn.Module, calibration: torch.Tensor, folder: Path,
                    images: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor,
                    max_batch: int) -> Int8Result:  # fmt: skip
    """``model-int8.pte``: quantized, then run by ExecuTorch in a fresh process on every test
    image."""
    return _evaluate(
        lambda: quantize_executorch(wrapped, calibration, folder / "model-int8.pte",
                                    max_batch=max_batch),
        lambda file: logits_in_fresh_process(file, images, kind="executorch", chunk=max_batch),
        "executorch", XNNPACK_SCHEME, images, labels, reference, folder / "model.pte",
    )  # fmt: skip


def int8_onnx(calibration: torch.Tensor, folder: Path, images: torch.Tensor,
              labels: torch.Tensor, reference: torch.Tensor) -> Int8Result:  # fmt: skip
    """``model-int8.onnx``: quantized from ``model.onnx``, then run by ONNX Runtime on every test
    image."""
    fp32 = folder / "model.onnx"
    return _evaluate(
        lambda: quantize_onnx(fp32, calibration, folder / "model-int8.onnx"),
        lambda file: onnx_logits(file, images),
        "onnxruntime", ONNX_SCHEME, images, labels, reference, fp32,
    )  # fmt: skip
