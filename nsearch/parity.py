"""Parity, measured rather than assumed: does a real runtime reproduce the model's outputs?

``onnx_parity`` runs an ONNX file with ONNX Runtime; ``program_parity_in_fresh_process`` loads a
``torch.export`` program in a new Python process that cannot import nsearch. Each compares the
logits with the model's, image by image, and says how many images get the same class.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nsearch.deploy import eval_mode, import_optional

__all__ = [
    "DEFAULT_ATOL",
    "Parity",
    "compare_logits",
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
    ort = import_optional("onnxruntime")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    chunks = images.detach().cpu().float().split(_CHUNK)
    logits = torch.cat([torch.from_numpy(session.run(None, {name: c.numpy()})[0]) for c in chunks])
    with eval_mode(reference), torch.inference_mode():
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
