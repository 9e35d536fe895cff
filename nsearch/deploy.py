"""The files a device team takes away, and checks that a real runtime reproduces the model.

- ``model.pt2``: a ``torch.export`` program (``torch.export.load(path).module()``), the PyTorch
  artefact to use first; it needs torch only, not nsearch.
- ``model.onnx``: ONNX from torch's ``torch.export``-based exporter, one file, input ``images``,
  output ``logits``, checked with ``onnx.checker``.

Both take float images ``N x C x H x W`` with any batch size ``N >= 1``. A batch dimension of
size 1 in the example would be specialised by ``torch.export`` (its "0/1 specialisation": sizes 0
and 1 are treated as constants), so both exporters trace with a batch of two copies of it.
Parity is measured, not assumed: ``onnx_parity`` runs the file with onnxruntime and
``program_parity_in_fresh_process`` loads the program in a new Python process without nsearch,
and each compares the logits with the model's. TorchScript is not written: in torch 2.14
``torch.jit.trace`` and ``torch.jit.load`` warn (``FutureWarning``) that they are deprecated.
"""

from __future__ import annotations

import importlib
import math
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

__all__ = [
    "DEFAULT_ATOL",
    "Normalized",
    "Parity",
    "compare_logits",
    "export_onnx",
    "export_program",
    "onnx_parity",
    "program_parity_in_fresh_process",
]

# Measured on nsearch's spaces at 28 x 28: a torch.export program in a fresh process gives
# exactly the model's logits; ONNX Runtime, which folds BatchNorm into the convolutions, differs
# by up to about 1e-4 over 5,000 test images of a trained network (float32 sums in another order).
DEFAULT_ATOL = 1e-3
_CHUNK = 256  # images per call when checking parity


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


@dataclass(frozen=True)
class Parity:
    """How closely a runtime reproduces the reference model's logits.

    Attributes:
        n_images: images compared.
        same_class: images whose predicted class (argmax) is the same in both.
        max_abs_diff: the largest absolute difference between the logits (NaN if any is NaN).
        atol: the tolerance on ``max_abs_diff``.
        ok: ``max_abs_diff <= atol``.
        runtime: what produced the logits compared with the reference.
    """

    n_images: int
    same_class: int
    max_abs_diff: float
    atol: float
    ok: bool
    runtime: str

    @property
    def same_class_fraction(self) -> float:
        return self.same_class / self.n_images


def _import_optional(name: str) -> ModuleType:
    """Import a module of the ``deploy`` extra, or say how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f"{name} is not installed; install the deploy extra: pip install 'nsearch[deploy]'."
        ) from error


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
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
    with _eval_mode(model):
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
    onnx = _import_optional("onnx")
    _import_optional("onnxscript")
    example = _tracing_example(example)
    path = Path(path)
    with _eval_mode(model):
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


def compare_logits(
    logits: torch.Tensor, reference: torch.Tensor, *, atol: float, runtime: str
) -> Parity:
    """Compare ``logits`` with ``reference`` (both ``N x classes``).

    Raises:
        ValueError: if the shapes differ.

    Example::

        >>> p = compare_logits(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 2.00001]]),
        ...                    atol=1e-4, runtime="test")
        >>> p.ok, p.same_class, p.n_images
        (True, 1, 1)
    """
    if logits.shape != reference.shape:
        raise ValueError(
            f"The logits to compare must have the reference's shape {tuple(reference.shape)}, "
            f"got {tuple(logits.shape)}."
        )
    logits, reference = logits.float().cpu(), reference.float().cpu()
    diff = (logits - reference).abs()
    max_abs_diff = math.nan if diff.isnan().any() else float(diff.max()) if diff.numel() else 0.0
    same = int((logits.argmax(dim=1) == reference.argmax(dim=1)).sum())
    return Parity(len(logits), same, max_abs_diff, atol, bool(max_abs_diff <= atol), runtime)


def _check_atol(atol: float) -> None:
    if not atol >= 0:
        raise ValueError(f"`atol` must be a non-negative number, got {atol!r}.")


def onnx_parity(
    onnx_path: str | Path,
    reference: nn.Module,
    images: torch.Tensor,
    *,
    atol: float = DEFAULT_ATOL,
) -> Parity:
    """Run an ONNX file with onnxruntime (CPU) on ``images`` and compare with ``reference``.

    Both run on batches of up to 256 images; ``reference`` runs in eval mode without autograd
    (its flags are restored afterwards).

    Args:
        onnx_path: a file written by ``export_onnx`` (input ``images``).
        reference: the model the file was exported from.
        images: float images, ``N x C x H x W``.
        atol: the largest absolute difference between logits that counts as the same.

    Raises:
        ValueError: if ``atol`` is negative.
        ImportError: without onnxruntime installed.
    """
    _check_atol(atol)
    ort = _import_optional("onnxruntime")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    chunks = images.detach().cpu().float().split(_CHUNK)
    logits = torch.cat([torch.from_numpy(session.run(None, {name: c.numpy()})[0]) for c in chunks])
    with _eval_mode(reference), torch.inference_mode():
        device = next(iter([*reference.parameters(), *reference.buffers()]), images).device
        expected = torch.cat([reference(c.to(device)).cpu() for c in chunks])
    return compare_logits(logits, expected, atol=atol, runtime="onnxruntime")


# Runs in a fresh interpreter: nsearch must not be needed to load and run the program.
_FRESH_PROCESS = f"""
import sys
sys.modules["nsearch"] = None
import torch
program, images, out = sys.argv[1:4]
module = torch.export.load(program).module()
images = torch.load(images, weights_only=True)
with torch.inference_mode():
    logits = torch.cat([module(chunk) for chunk in images.split({_CHUNK})])
torch.save(logits, out)
"""


def program_parity_in_fresh_process(
    program_path: str | Path,
    images: torch.Tensor,
    reference_logits: torch.Tensor,
    *,
    atol: float = DEFAULT_ATOL,
    timeout: float = 300.0,
) -> Parity:
    """Load a ``torch.export`` program in a new Python process that cannot import nsearch, run it
    on ``images`` and compare with ``reference_logits``.

    Args:
        program_path: a file written by ``export_program``.
        images: float images, ``N x C x H x W`` (passed to the process in a temporary file).
        reference_logits: the reference model's logits for ``images``.
        atol: the largest absolute difference between logits that counts as the same.
        timeout: seconds the process may take.

    Raises:
        ValueError: if ``atol`` is negative.
        FileNotFoundError: if there is no file at ``program_path``.
        RuntimeError: if the process fails; the message ends with its last error line.
    """
    _check_atol(atol)
    program_path = Path(program_path).resolve()
    if not program_path.is_file():
        raise FileNotFoundError(f"`program_path` must be a file, got {str(program_path)!r}.")
    with tempfile.TemporaryDirectory(prefix="nsearch-parity-") as folder:
        images_path, logits_path = Path(folder) / "images.pt", Path(folder) / "logits.pt"
        torch.save(images.detach().cpu().float().contiguous(), images_path)
        command = [sys.executable, "-c", _FRESH_PROCESS, str(program_path), str(images_path)]
        done = subprocess.run(
            [*command, str(logits_path)],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or ["(no output)"]
            raise RuntimeError(
                f"Running {str(program_path)!r} in a fresh process failed with exit status "
                f"{done.returncode}: {lines[-1]}"
            )
        logits = torch.load(logits_path, weights_only=True)
    return compare_logits(
        logits, reference_logits, atol=atol, runtime="torch.export (fresh process)"
    )
