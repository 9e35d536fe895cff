"""The folder a device team takes away: every model file, each checked by the runtime that will
run it, with its latency, and ``config.json`` and ``MODEL_CARD.md`` written from one description.

Files (the optional ones need the ``deploy`` extra, and are skipped with one sentence without it):

- ``model.pt2``: a ``torch.export`` program, any batch size; needs torch only.
- ``model.onnx``: the same for ONNX Runtime (input ``images``, output ``logits``).
- ``model.pte``: an ExecuTorch program lowered to XNNPACK, batch 1 to
  :data:`~nsearch.cost.runtimes.EXECUTORCH_MAX_BATCH`.
- ``model-int8.pte``, ``model-int8.onnx``: int8 versions (``quantize="int8"``,
  :mod:`nsearch.deployment.quantization`), each with its test accuracy, agreement with fp32,
  size and latency.
- ``weights.pt``: the network's ``state_dict``, for inputs ``(x - mean) / std``.

Every model file takes float images in [0, 1] and normalises them itself (:class:`Normalized`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nsearch.cost.extras import runtime_available
from nsearch.cost.latency import Latency, measure_file_latency, measure_latency
from nsearch.cost.runtimes import (
    EXECUTORCH_MAX_BATCH,
    export_executorch,
    export_onnx,
    export_program,
)
from nsearch.deployment.description import Int8Result, ModelDescription
from nsearch.deployment.int8 import int8_executorch, int8_onnx
from nsearch.deployment.model_card import model_card
from nsearch.deployment.normalized import Normalized
from nsearch.deployment.parity import (
    Parity,
    float_chunks,
    onnx_parity,
    program_parity_in_fresh_process,
)

__all__ = ["FORMATS", "Bundle", "LabelledImages", "write_bundle"]

LATENCY_THREADS = 1
# The model files a bundle can hold: the torch.export program (always), ONNX, ExecuTorch.
FORMATS = ("pt2", "onnx", "pte")


def missing_note(name: str) -> str:
    return f"{name} was not written: install the deploy extra with pip install 'nsearch[deploy]'."


@dataclass(frozen=True)
class LabelledImages:
    """The test split as the device sees it, and its labels: uint8 pixels (taken as [0, 1]
    images: a quarter of the memory of floats), or float images as the model takes them (a
    user's datamodule)."""

    images: torch.Tensor
    labels: torch.Tensor


@dataclass(frozen=True)
class Bundle:
    """A written folder: its files by name, and the description they were written from."""

    folder: Path
    files: dict[str, Path]
    description: ModelDescription

    def __getitem__(self, name: str) -> Path:
        return self.files[name]

    @property
    def program(self) -> Path:
        return self.files["model.pt2"]

    @property
    def onnx(self) -> Path | None:
        return self.files.get("model.onnx")

    @property
    def executorch(self) -> Path | None:
        return self.files.get("model.pte")

    @property
    def weights(self) -> Path:
        return self.files["weights.pt"]

    @property
    def config(self) -> Path:
        return self.files["config.json"]

    @property
    def card(self) -> Path:
        return self.files["MODEL_CARD.md"]


def write_bundle(
    model: nn.Module,
    folder: str | Path,
    description: ModelDescription,
    test: LabelledImages,
    *,
    quantize: str | None = None,
    calibration: torch.Tensor | None = None,
    max_batch: int = EXECUTORCH_MAX_BATCH,
    formats: Sequence[str] = FORMATS,
) -> Bundle:
    """Write ``model`` (trained on ``(x - mean) / std``, with ``description.input``'s mean and
    std) as every file a device takes, check each against the model on every test image in its
    runtime, measure its latency there, and write ``config.json`` and ``MODEL_CARD.md``.

    Args:
        model: the trained network.
        folder: where to write.
        description: what the model is (its files, parity, latency and int8 results are
            filled in here).
        test: the test images, in [0, 1], and their labels.
        quantize: ``"int8"`` adds ``model-int8.pte`` and ``model-int8.onnx``.
        calibration: training images that calibrate the int8 models (uint8 pixels, or floats
            as the model takes them).
        max_batch: the largest batch the ExecuTorch programs take.
        formats: which model files to write, of :data:`FORMATS` (``model.pt2`` is always
            written: it is the reference the others are checked against).

    Returns:
        The folder's files and the completed description (files, parity, latency, notes).

    Raises:
        ValueError: if ``quantize`` is not a known scheme, or int8 is asked for without
            calibration images.
    """
    if quantize not in (None, "int8"):
        raise ValueError(f"`quantize` can be int8 or None, got {quantize!r}.")
    if set(formats) - set(FORMATS):
        raise ValueError(f"`formats` can hold {', '.join(FORMATS)}, got {list(formats)}.")
    if quantize is not None and (calibration is None or len(calibration) == 0):
        raise ValueError("int8 quantization needs calibration images.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    spec = description.input
    wrapped = Normalized(model, spec.mean, spec.std).eval()
    example = next(float_chunks(test.images[:1]))
    shape = tuple(spec.shape_chw)
    files: dict[str, Path] = {"model.pt2": export_program(wrapped, example, folder / "model.pt2")}
    with torch.inference_mode():
        reference = torch.cat([wrapped(chunk) for chunk in float_chunks(test.images)])
    parities: list[Parity] = [
        program_parity_in_fresh_process(files["model.pt2"], test.images, reference)
    ]
    latencies: list[Latency] = [measure_latency(wrapped, shape, threads=LATENCY_THREADS)]
    wanted = {name: name.split(".")[1] in formats for name in ("model.onnx", "model.pte")}
    notes = [missing_note(name) for name, runtime in (("model.onnx", "onnxruntime"),
                                                      ("model.pte", "executorch"))
             if wanted[name] and not runtime_available(runtime)]  # fmt: skip
    if wanted["model.onnx"] and runtime_available("onnxruntime"):
        files["model.onnx"] = export_onnx(wrapped, example, folder / "model.onnx")
        parities.append(onnx_parity(files["model.onnx"], wrapped, test.images))
        latencies.append(measure_latency(wrapped, shape, runtime="onnxruntime",
                                         threads=LATENCY_THREADS))  # fmt: skip
    if wanted["model.pte"] and runtime_available("executorch"):
        files["model.pte"] = export_executorch(wrapped, example, folder / "model.pte",
                                               max_batch=max_batch)  # fmt: skip
        parities.append(program_parity_in_fresh_process(files["model.pte"], test.images,
                                                        reference, kind="executorch",
                                                        chunk=max_batch))  # fmt: skip
        latencies.append(measure_file_latency(files["model.pte"], shape, runtime="executorch",
                                              threads=LATENCY_THREADS))  # fmt: skip
    int8: list[Int8Result] = []
    if quantize is not None and calibration is not None:
        calibration = torch.cat(list(float_chunks(calibration)))
        if "model.pte" in files:
            int8.append(int8_executorch(wrapped, calibration, folder, test.images, test.labels,
                                        reference, max_batch))  # fmt: skip
        if "model.onnx" in files:
            int8.append(int8_onnx(calibration, folder, test.images, test.labels, reference))
        for result in int8:
            files[result.file] = folder / result.file
    files["weights.pt"] = folder / "weights.pt"
    torch.save(model.state_dict(), files["weights.pt"])
    files["config.json"] = folder / "config.json"
    files["MODEL_CARD.md"] = folder / "MODEL_CARD.md"
    description = dataclasses.replace(
        description,
        input=dataclasses.replace(spec, max_batch=max_batch if "model.pte" in files else None),
        latencies=tuple(latencies),
        parities=tuple(parities),
        int8=tuple(int8),
        files=tuple(files),
        notes=(*description.notes, *notes),  # the caller's notes are kept
    )
    files["config.json"].write_text(json.dumps(description.config(), indent=2) + "\n")
    files["MODEL_CARD.md"].write_text(model_card(description))
    return Bundle(folder, files, description)

