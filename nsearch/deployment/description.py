"""One description of an exported model: ``config.json`` and ``MODEL_CARD.md`` are both written
from it, for a search checkpoint (``python -m nsearch.export``) and a final training run
(``python -m nsearch.finalize``) alike.

Every number carries its unit in its name: accuracy in percent with its Wilson 95 % interval,
parameters as a count and in millions, MACs per image and in billions, latency in milliseconds
per call at batch 1, NetScore in dB.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nsearch.core.metrics import Measured, netscore_or_inf
from nsearch.cost.latency import Latency
from nsearch.deployment.parity import Parity

__all__ = ["InputSpec", "Int8Result", "ModelDescription", "TrainingFacts"]


@dataclass(frozen=True)
class InputSpec:
    """What the exported model takes: float32 images in [0, 1], ``N x C x H x W``, which it
    normalises itself with ``mean`` and ``std`` (per channel, on the same [0, 1] scale).

    Attributes:
        shape_chw: one image's shape.
        mean: per-channel mean of the training images, [0, 1] units.
        std: per-channel standard deviation, [0, 1] units.
        preprocessing: what to do to an image before it is given to the model (decode to RGB,
            resize, centre crop), in the words of the data it was trained on.
        max_batch: the largest batch the ExecuTorch programs take (``None``: not written).
    """

    shape_chw: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    preprocessing: str = "none: images already at this size"
    max_batch: int | None = None


@dataclass(frozen=True)
class TrainingFacts:
    """How a final training run trained the weights."""

    data: str
    train_images: int
    epochs: int
    batch_size: int
    peak_lr: float
    seed: int
    train_seconds: float
    recipe: str


@dataclass(frozen=True)
class Int8Result:
    """One int8 model and how it compares with the fp32 one on the test images.

    Attributes:
        file: the file's name (``model-int8.pte``, ``model-int8.onnx``).
        runtime: the runtime that ran it for these figures.
        scheme: how it was quantised, in a few words.
        test: its correct predictions on the test images.
        agreement: test images on which it predicts the fp32 model's class.
        file_bytes: its size.
        fp32_file_bytes: the size of the fp32 file of the same format.
        latency: its latency in ``runtime``.
        difference_ci95_points: Newcombe's 95 % interval of int8 minus fp32 test accuracy.
    """

    file: str
    runtime: str
    scheme: str
    test: Measured
    agreement: int
    file_bytes: int
    fp32_file_bytes: int
    latency: Latency | None
    difference_ci95_points: tuple[float, float]

    @property
    def size_ratio(self) -> float:
        return self.file_bytes / self.fp32_file_bytes

    @property
    def distinguishable(self) -> bool:
        low, high = self.difference_ci95_points
        return not low <= 0 <= high


@dataclass(frozen=True)
class ModelDescription:
    """Everything ``config.json`` and the model card state about one exported model."""

    space: str
    architecture: Mapping[str, Any]
    architecture_text: str
    trial: int
    weights: str  # where the weights come from, in one sentence
    input: InputSpec
    classes: tuple[str, ...]
    params: int
    macs: int
    test: Measured | None
    validation: Measured | None = None  # the search's (short training) validation accuracy
    validation_fidelity: str = ""  # its epochs x training images ("4x4000")
    training: TrainingFacts | None = None
    latencies: tuple[Latency, ...] = ()
    parities: tuple[Parity, ...] = ()
    int8: tuple[Int8Result, ...] = ()
    files: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())  # files not written, and why

    @property
    def netscore_db(self) -> float | None:
        """NetScore of the test accuracy, in dB (``None`` without a test accuracy)."""
        if self.test is None:
            return None
        return netscore_or_inf(self.test.percent, self.params / 1e6, self.macs / 1e9)

    def config(self) -> dict[str, Any]:
        """``config.json``: every number with its unit in its name."""
        c, h, w = self.input.shape_chw
        return {
            "space": self.space,
            "architecture": dict(self.architecture),
            "architecture_text": self.architecture_text,
            "trial": self.trial,
            "weights": self.weights,
            "input": {
                "dtype": "float32",
                "layout": "N x C x H x W",
                "shape_chw": [c, h, w],
                "range": [0.0, 1.0],
                "preprocessing": self.input.preprocessing,
                "max_batch_executorch": self.input.max_batch,
            },
            "normalisation": {
                "mean": list(self.input.mean),
                "std": list(self.input.std),
                "scale": "per channel, in the same [0, 1] units as the input",
                "applied_by": "every model file applies it itself; weights.pt expects "
                "(x - mean) / std",
            },
            "classes": list(self.classes),
            **_accuracy("validation", self.validation),
            "validation_fidelity": self.validation_fidelity or None,
            **_accuracy("test", self.test),
            "params": self.params,
            "params_millions": self.params / 1e6,
            "macs_per_image": self.macs,
            "gmacs_per_image": self.macs / 1e9,
            "netscore_db": self.netscore_db,
            "latency_ms_batch1": {lat.runtime: dataclasses.asdict(lat) for lat in self.latencies},
            "parity": [dataclasses.asdict(p) for p in self.parities],
            "int8": {r.file: _int8(r) for r in self.int8},
            "training": None if self.training is None else dataclasses.asdict(self.training),
            "files": list(self.files),
            "notes": list(self.notes),
        }


def _accuracy(name: str, measured: Measured | None) -> dict[str, Any]:
    return {
        f"{name}_accuracy_percent": None if measured is None else measured.percent,
        f"{name}_accuracy_ci95_percent": None if measured is None else list(measured.interval),
        f"{name}_images": None if measured is None else measured.images,
    }


def _int8(r: Int8Result) -> dict[str, Any]:
    return {
        "runtime": r.runtime,
        "scheme": r.scheme,
        **_accuracy("test", r.test),
        "top1_agreement_with_fp32_percent": 100.0 * r.agreement / r.test.images,
        "test_accuracy_difference_ci95_points": list(r.difference_ci95_points),
        "distinguishable_from_fp32": r.distinguishable,
        "file_bytes": r.file_bytes,
        "fp32_file_bytes": r.fp32_file_bytes,
        "size_ratio_to_fp32": r.size_ratio,
        "latency_ms_batch1": None if r.latency is None else dataclasses.asdict(r.latency),
    }


def measured_of(values: Sequence[int] | None) -> Measured | None:
    """A ``Measured`` from ``(correct, images)``, or ``None``."""
    return None if values is None else Measured(int(values[0]), int(values[1]))
