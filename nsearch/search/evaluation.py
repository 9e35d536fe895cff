"""Rebuilding a trial's trained network, and measuring the front's test accuracy (once each)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from nsearch.core.metrics import Measured
from nsearch.search.results import TrialRecord, write_test_result
from nsearch.search.run_info import RunInfo
from nsearch.search_spaces import get_space

__all__ = ["load_trial_model", "measure_accuracy", "network_state", "test_front"]


def network_state(
    state: Mapping[str, torch.Tensor], network: torch.nn.Module
) -> dict[str, torch.Tensor]:
    """The weights of ``network`` inside a LightningModule's ``state_dict``: the entries under the
    one attribute path (``model.``, ``net.backbone.``, ...) that holds all of its keys.

    Raises:
        ValueError: if no prefix holds every key of the network.
    """
    keys = list(network.state_dict())
    first = keys[0]
    prefixes = {k[: -len(first)] for k in state if k.endswith(first)}
    for prefix in sorted(prefixes, key=len):
        if all(prefix + k in state for k in keys):
            return {k: state[prefix + k] for k in keys}
    raise ValueError(
        f"The checkpoint holds no weights for this network (looked for {first!r} under any "
        "attribute of the training module)."
    )


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
    model.load_state_dict(network_state(state["state_dict"], model))
    return model.eval()


@torch.no_grad()
def measure_accuracy(model: torch.nn.Module, batches: Iterable[Any]) -> Measured:
    """Correct top-1 predictions of ``model`` (in eval mode) over labelled batches, on the
    model's device."""
    model.eval()
    device = next(iter([*model.parameters(), *model.buffers()]), torch.empty(0)).device
    correct = total = 0
    for x, y in batches:
        predicted = model(x.to(device)).argmax(1).cpu()
        correct += int((predicted == y.cpu()).sum())
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
