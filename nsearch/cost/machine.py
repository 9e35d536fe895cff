"""What machine a measurement was taken on, in a few words (for reports, model cards, results)."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

__all__ = ["machine_description"]


@functools.cache
def machine_description() -> str:
    """The CPU model, the cores this process may use, and the platform, in a few words.

    Example::

        >>> "cores" in machine_description()
        True
    """
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores ({platform.machine()}, {platform.system()})"
