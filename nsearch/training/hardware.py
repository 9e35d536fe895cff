"""Where and in which precision a Trainer runs: one record that every Trainer nsearch creates
(a trial, the supernet, a final training) takes its device settings from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["ACCELERATORS", "PRECISIONS", "Hardware"]

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "64-true")


@dataclass(frozen=True)
class Hardware:
    """Lightning's ``accelerator``, ``devices`` and ``precision`` for every Trainer.

    Each trial trains on one device of the accelerator (``devices`` picks which: a count takes
    the first ones, ``"1,3"`` names them; several workers share them round-robin). Latency is
    always measured on the CPU, whatever trains.

    Raises:
        ValueError: on an accelerator or precision Lightning does not know, or devices that are
            neither a positive count nor a list of indices.
    """

    accelerator: str = "auto"
    devices: str = "1"
    precision: str = "32-true"

    def __post_init__(self) -> None:
        if self.accelerator not in ACCELERATORS:
            raise ValueError(
                f"`accelerator` can be {', '.join(ACCELERATORS)}, got {self.accelerator!r}."
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"`precision` can be {', '.join(PRECISIONS)}, got {self.precision!r}.")
        self.device_indices(0)  # checks `devices`

    def device_indices(self, worker: int) -> Any:
        """Lightning's ``devices`` for one trial of worker ``worker``: one device."""
        text = str(self.devices).strip()
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts or not all(p.isdigit() for p in parts):
            raise ValueError(
                f"`devices` must be a positive count such as 2 or device indices such as "
                f"'0,2', got {self.devices!r}."
            )
        if len(parts) == 1 and "," not in text:
            count = int(parts[0])
            if count < 1:
                raise ValueError(f"`devices` must be a positive count, got {self.devices!r}.")
            if count == 1:
                return 1
            return [worker % count]
        return [int(parts[worker % len(parts)])]

    def trainer_kwargs(self, worker: int = 0) -> dict[str, Any]:
        """``Trainer(**kwargs)`` for one trial of worker ``worker`` (one device)."""
        devices = self.device_indices(worker)
        on_cpu = self.accelerator == "cpu" or (
            self.accelerator == "auto" and not torch.cuda.is_available()
        )
        if on_cpu:
            devices = 1  # several CPU "devices" would mean several processes per trial
        return {"accelerator": self.accelerator, "devices": devices, "precision": self.precision}
