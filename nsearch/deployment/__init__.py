"""Deployment: the files a device team takes away, each checked by its runtime.

- :func:`export_trial`: a search trial's checkpoint as a :class:`Bundle` (``python -m
  nsearch.export``); :func:`finalize`: an architecture trained properly, then packaged
  (``python -m nsearch.finalize``); :func:`finalize_front`: the front's models, each so
  (``python -m nsearch.finalize --front``);
- :func:`write_bundle`: any trained network as ``model.pt2``, ``model.onnx``, ``model.pte``
  (and int8 versions), ``weights.pt``, ``config.json`` and ``MODEL_CARD.md``, from one
  :class:`ModelDescription`;
- :mod:`~nsearch.deployment.parity`: does a runtime reproduce the model's outputs?

Names are imported on first use: exporting a search checkpoint does not import Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nsearch._lazy import lazy_names

if TYPE_CHECKING:
    from nsearch.deployment.bundle import Bundle, LabelledImages, write_bundle
    from nsearch.deployment.description import InputSpec, ModelDescription, TrainingFacts
    from nsearch.deployment.final_training import finalize
    from nsearch.deployment.front import FrontRow, finalize_front
    from nsearch.deployment.normalized import Normalized
    from nsearch.deployment.parity import Parity
    from nsearch.deployment.search_export import export_trial

__all__ = ["Bundle", "FrontRow", "InputSpec", "ModelDescription", "Normalized", "Parity",
           "LabelledImages", "TrainingFacts", "export_trial", "finalize", "finalize_front",
           "write_bundle"]  # fmt: skip

_HOMES = {
    "Bundle": "bundle",
    "InputSpec": "description",
    "ModelDescription": "description",
    "Normalized": "normalized",
    "Parity": "parity",
    "LabelledImages": "bundle",
    "TrainingFacts": "description",
    "export_trial": "search_export",
    "finalize": "final_training",
    "finalize_front": "front",
    "FrontRow": "front",
    "write_bundle": "bundle",
}


__getattr__ = lazy_names("nsearch.deployment", _HOMES)
