"""The optional extras: which package belongs to which extra, and one sentence naming the extra
when a runtime's packages are missing.

The runtimes beyond eager torch (ONNX Runtime, ExecuTorch) need the ``deploy`` extra
(``pip install 'nsearch[deploy]'``); nsearch imports their packages only when it uses them.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["check_runtime", "import_optional", "runtime_available"]

_EXTRA = {"onnx": "deploy", "onnxscript": "deploy", "onnxruntime": "deploy",
          "executorch": "deploy", "torchao": "deploy"}  # fmt: skip


def import_optional(name: str) -> ModuleType:
    """Import a module of an optional extra, or say which extra installs it.

    Raises:
        ImportError: naming the extra to install.
    """
    try:
        return importlib.import_module(name)
    except ImportError as error:
        top = name.split(".")[0]
        extra = _EXTRA.get(top, "deploy")
        raise ImportError(
            f"{top} is not installed; install the {extra} extra: pip install 'nsearch[{extra}]'."
        ) from error


_RUNTIME_MODULES = {"torch": (), "onnxruntime": ("onnx", "onnxscript", "onnxruntime"),
                    "executorch": ("executorch", "torchao")}  # fmt: skip


def runtime_available(runtime: str) -> bool:
    """Whether the optional packages that ``runtime`` (``torch``, ``onnxruntime``,
    ``executorch``) needs to convert and run a network are installed."""
    return all(importlib.util.find_spec(m) is not None for m in _RUNTIME_MODULES[runtime])


def check_runtime(runtime: str) -> None:
    """Refuse, in one sentence, a runtime whose packages are not installed.

    Raises:
        ValueError: naming the extra to install.
    """
    if not runtime_available(runtime):
        raise ValueError(
            f"The {runtime} runtime needs {', '.join(_RUNTIME_MODULES[runtime])}, which are not "
            "all installed; install the deploy extra: pip install 'nsearch[deploy]'."
        )
