"""Rebuilding a trial's trained network, and measuring the front's test accuracy (once each)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from nsearch.search.results import Measured, TrialRecord, write_test_result
from nsearch.search.run_info import RunInfo
from nsearch.search_spaces import get_space

__all__ = ["load_trial_model", "measure_accuracy", "test_front"]


def load_trial_model(out: Path, record: TrialRecord, info: RunInfo) -> torch.nn.Module:
    """A trial's network, rebuilt from its architecture, with its best epoch's weights.

    Raises:
        ValueError: if the trial has no checkpoint in ``out``.
    """
    if record.checkpoint is None or not (out / record.checkpoint).is_file():
        raise ValueError(
            f"The checkpoint of trial {record.trial} is not in {str(out)!r}: worker "
            f"{record.worker or 'unknown'} trained it; use it on that machine, from its --out "
            "folder."
        )
    space = get_space(info.settings.space)
    model = space.build(
        space.config_from_params(record.architecture),
        in_channels=info.input_shape[0],
        num_classes=info.num_classes,
        input_size=info.input_shape[-1],
    )
    state = torch.load(out / record.checkpoint, map_location="cpu", weights_only=True)
    prefix = "model."
    model.load_state_dict(
        {k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}
    )
    return model.eval()


@torch.no_grad()
def measure_accuracy(model: torch.nn.Module, batches: Iterable[Any]) -> Measured:
    """Correct top-1 predictions of ``model`` (in eval mode) over labelled batches."""
    model.eval()
    correct = total = 0
    for x, y in batches:
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    return Measured(correct, total)


def test_front(
    out: Path, front: Sequence[TrialRecord], info: RunInfo, test_batches: Iterable[Any]
) -> list[TrialRecord]:
    """The front with test accuracy filled in: measured once per checkpoint on this machine (and
    kept beside it); trials trained on other machines are left without it."""
    batches = list(test_batches)
    tested = []
    for record in front:
        here = record.checkpoint is not None and (out / record.checkpoint).is_file()
        if record.test is None and here:
            measured = measure_accuracy(load_trial_model(out, record, info), batches)
            write_test_result(out, record, measured)
            record = dataclasses.replace(
                record, test_correct=measured.correct, test_images=measured.images
            )
        tested.append(record)
    return tested
