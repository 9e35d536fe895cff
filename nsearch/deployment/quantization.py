"""int8 post-training static quantization, for the two runtimes a device runs int8 in.

- ExecuTorch: PT2E (``torchao.quantization.pt2e``) with ExecuTorch's XNNPACK quantizer,
  symmetric and per-channel, calibrated on training images, then lowered to XNNPACK
  (``model-int8.pte``).
- ONNX Runtime: ``onnxruntime.quantization.quantize_static`` on the fp32 ONNX file (after
  ONNX Runtime's pre-processing): QDQ format, per-channel int8 weights, uint8 activations
  (faster than int8 activations on x86), min-max calibration on the same images, and
  ``reduce_range=True``, which keeps weights to 7 bits so that CPUs without VNNI (AVX2 only) do
  not saturate their 16-bit accumulators (ONNX Runtime's advice for such CPUs).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nsearch.cost.extras import import_optional
from nsearch.cost.runtimes import (
    EXECUTORCH_MAX_BATCH,
    batch_dim,
    dense,
    exported,
    lower_to_executorch,
)

__all__ = ["DEFAULT_CALIBRATION_IMAGES", "SCHEMES", "quantize_executorch", "quantize_onnx"]

SCHEMES = ("int8",)
# Training images the int8 models are calibrated on (chosen by measurement: see README).
DEFAULT_CALIBRATION_IMAGES = 256
_CALIBRATION_BATCH = 32
XNNPACK_SCHEME = "PT2E static, XNNPACK quantizer, symmetric per-channel int8"
ONNX_SCHEME = "ONNX Runtime static, QDQ, per-channel int8 weights (reduce_range), uint8 activations"


def quantize_executorch(
    model: nn.Module,
    calibration: torch.Tensor,
    path: str | Path,
    *,
    max_batch: int = EXECUTORCH_MAX_BATCH,
) -> Path:
    """Quantize ``model`` (taking images in [0, 1]) to int8 with PT2E and the XNNPACK quantizer,
    calibrated on ``calibration`` (images in [0, 1]), and write it as an ExecuTorch program.

    Raises:
        ImportError: without executorch and torchao installed.
    """
    import_optional("torchao")
    import_optional("executorch")
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    calibration = dense(calibration)
    example = calibration[:2]
    graph = exported(model, example, max_batch).module()
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True)
    )
    prepared: Any = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for chunk in calibration.split(min(_CALIBRATION_BATCH, max_batch)):
            prepared(chunk)
    converted = convert_pt2e(prepared)
    # a converted graph cannot be put in eval mode again: export it as it is
    program = torch.export.export(converted, (example,), dynamic_shapes=batch_dim(max_batch))
    return lower_to_executorch(program, path, max_batch=max_batch)


def quantize_onnx(fp32_path: str | Path, calibration: torch.Tensor, path: str | Path) -> Path:
    """Quantize an fp32 ONNX file (input ``images``) to int8 with ONNX Runtime's static
    quantizer, calibrated on ``calibration`` (images in [0, 1]).

    Raises:
        ImportError: without onnxruntime installed.
    """
    import_optional("onnxruntime")
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    class Images(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = [c.numpy() for c in calibration.split(_CALIBRATION_BATCH)]
            self.next = 0

        def get_next(self) -> dict[str, Any] | None:
            if self.next >= len(self.batches):
                return None
            self.next += 1
            return {"images": self.batches[self.next - 1]}

        def rewind(self) -> None:
            self.next = 0

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="nsearch-int8-") as folder:
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared))
        quantize_static(str(prepared), str(path), Images(), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)  # fmt: skip
    return path
