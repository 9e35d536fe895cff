"""Parity, measured rather than assumed: does a real runtime reproduce the model's outputs?

``onnx_parity`` runs an ONNX file with ONNX Runtime; ``program_parity_in_fresh_process`` loads a
``torch.export`` program, or an ExecuTorch program run by ExecuTorch's runtime, in a new Python
process that cannot import nsearch. Each compares the logits with the model's, image by image,
and says how many images get the same class.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nsearch.cost.extras import import_optional
from nsearch.cost.runtimes import dense, eval_mode

__all__ = [
    "DEFAULT_ATOL",
    "Parity",
    "compare_logits",
    "float_chunks",
    "logits_in_fresh_process",
    "onnx_logits",
    "onnx_parity",
    "program_parity_in_fresh_process",
]

# Measured on nsearch's spaces at 28 x 28: a torch.export program in a fresh process gives
# exactly the model's logits; ONNX Runtime, which folds BatchNorm into the convolutions, differs
# by up to about 1e-4 over 5,000 test images of a trained network (float32 sums in another order).
DEFAULT_ATOL = 1e-3
_CHUNK = 256  # images per call when checking parity


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


def float_chunks(images: torch.Tensor, size: int = _CHUNK) -> Iterator[torch.Tensor]:
    """``images`` in chunks of ``size``, as float32: uint8 pixels are scaled to [0, 1] (how the
    test images of a folder are kept: a quarter of the memory), float images are as they are.

    Example::

        >>> [c.tolist() for c in float_chunks(torch.tensor([[0], [255]], dtype=torch.uint8), 1)]
        [[[0.0]], [[1.0]]]
    """
    for chunk in images.detach().cpu().split(size):
        yield dense(chunk.float() / 255.0 if chunk.dtype == torch.uint8 else chunk.float())


def onnx_logits(onnx_path: str | Path, images: torch.Tensor) -> torch.Tensor:
    """The logits of an ONNX file run by ONNX Runtime (CPU) on ``images``, 256 at a time.

    Raises:
        ImportError: without onnxruntime installed.
    """
    ort = import_optional("onnxruntime")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return torch.cat([torch.from_numpy(session.run(None, {name: c.numpy()})[0])
                      for c in float_chunks(images)])  # fmt: skip


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
        images: ``N x C x H x W``: float images, or uint8 pixels (scaled to [0, 1]).
        atol: the largest absolute difference between logits that counts as the same.

    Raises:
        ValueError: if ``atol`` is negative.
        ImportError: without onnxruntime installed.
    """
    _check_atol(atol)
    logits = onnx_logits(onnx_path, images)
    with eval_mode(reference), torch.inference_mode():
        device = next(iter([*reference.parameters(), *reference.buffers()]), images).device
        expected = torch.cat([reference(c.to(device)).cpu() for c in float_chunks(images)])
    return compare_logits(logits, expected, atol=atol, runtime="onnxruntime")


# Runs in a fresh interpreter: nsearch must not be needed to load and run the file. A torch.export
# program runs whole; an ExecuTorch program in chunks of at most its batch bound.
_FRESH_PROCESS = """
import sys
sys.modules["nsearch"] = None
import torch
kind, path, images, out, chunk = sys.argv[1:6]
chunk = int(chunk)
images = torch.load(images, weights_only=True)
if kind == "executorch":
    from executorch.runtime import Runtime
    program = Runtime.get().load_program(path)
    method = program.load_method("forward")
    run = lambda x: method.execute([x.contiguous()])[0]
else:
    run = torch.export.load(path).module()
scale = (lambda x: x.float() / 255.0) if images.dtype == torch.uint8 else (lambda x: x)
with torch.inference_mode():
    logits = torch.cat([run(scale(part)) for part in images.split(chunk)])
torch.save(logits, out)
"""
_RUNTIMES = {"torch.export": "torch.export (fresh process)",
             "executorch": "executorch (XNNPACK, fresh process)"}  # fmt: skip


def logits_in_fresh_process(
    path: str | Path, images: torch.Tensor, *, kind: str = "torch.export", chunk: int = _CHUNK,
    timeout: float = 300.0,
) -> torch.Tensor:  # fmt: skip
    """Run a ``torch.export`` program (``kind="torch.export"``) or an ExecuTorch program
    (``kind="executorch"``) on ``images`` in a new Python process that cannot import nsearch,
    ``chunk`` images at a time; its logits.

    Raises:
        FileNotFoundError: if there is no file at ``path``.
        RuntimeError: if the process fails; the message ends with its last error line.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"`path` must be a file, got {str(path)!r}.")
    with tempfile.TemporaryDirectory(prefix="nsearch-parity-") as folder:
        images_path, logits_path = Path(folder) / "images.pt", Path(folder) / "logits.pt"
        torch.save(dense(images.detach().cpu()), images_path)  # uint8 stays uint8
        command = [sys.executable, "-c", _FRESH_PROCESS, kind, str(path), str(images_path),
                   str(logits_path), str(chunk)]  # fmt: skip
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or ["(no output)"]
            raise RuntimeError(
                f"Running {str(path)!r} in a fresh process failed with exit status "
                f"{done.returncode}: {lines[-1]}"
            )
        logits: torch.Tensor = torch.load(logits_path, weights_only=True)
        return logits


def program_parity_in_fresh_process(
    program_path: str | Path,
    images: torch.Tensor,
    reference_logits: torch.Tensor,
    *,
    atol: float = DEFAULT_ATOL,
    kind: str = "torch.export",
    chunk: int = _CHUNK,
) -> Parity:
    """Load a ``torch.export`` program (or, with ``kind="executorch"``, an ExecuTorch program) in
    a new Python process that cannot import nsearch, run it on ``images`` and compare with
    ``reference_logits``.

    Raises:
        ValueError: if ``atol`` is negative.
        FileNotFoundError: if there is no file at ``program_path``.
        RuntimeError: if the process fails; the message ends with its last error line.
    """
    _check_atol(atol)
    logits = logits_in_fresh_process(program_path, images, kind=kind, chunk=chunk)
    return compare_logits(logits, reference_logits, atol=atol, runtime=_RUNTIMES[kind])
