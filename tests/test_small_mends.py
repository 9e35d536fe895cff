"""Small things that were silently wrong: the callback's hint for a ``forward`` that takes a dict,
``trials.csv`` under budgets added on resume, and the name of a ``--datamodule`` run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from lightning_helpers import TINY_MACS, TINY_PARAMS
from torch import nn
from torch.utils.data import DataLoader, Dataset

import nsearch
from nsearch.callbacks import NetScoreCallback
from nsearch.search import SearchSettings, run_study
from nsearch.search.study import data_name, default_study_name


class DictImages(Dataset):
    """Eight 1 x 8 x 8 images as dicts, {"x": image, "y": label}."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"x": torch.randn(1, 8, 8), "y": i % 2}


class DictForward(pl.LightningModule):
    """The tiny network of lightning_helpers, with a ``forward`` that takes the batch's dict."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))  # fmt: skip

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(batch["x"])

    def training_step(self, batch: dict[str, torch.Tensor], _: int) -> torch.Tensor:
        return F.cross_entropy(self(batch), batch["y"])

    def validation_step(self, batch: dict[str, torch.Tensor], _: int) -> None:
        self.log("val_acc", (self(batch).argmax(1) == batch["y"]).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(DictImages(), batch_size=4)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(DictImages(), batch_size=4)


def fit(module: pl.LightningModule, tmp_path: Path) -> pl.Trainer:
    trainer = pl.Trainer(max_epochs=1, callbacks=[NetScoreCallback()], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(module)
    return trainer


def test_a_forward_that_takes_a_dict_is_told_to_set_example_input_array_and_that_counts(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match=r"a dict with keys 'x', 'y'") as caught:
        fit(DictForward(), tmp_path)
    message = str(caught.value)
    assert "batch dimension" not in message  # the old hint: drop a dimension from the shape
    hinted = "({'x': torch.zeros(1, 1, 8, 8)},)"
    assert f"example_input_array`), such as {hinted}" in message
    module = DictForward()
    module.example_input_array = eval(hinted)  # what the hint says, as it says it
    trainer = fit(module, tmp_path)
    assert trainer.callback_metrics["netscore_params_millions"] == pytest.approx(TINY_PARAMS / 1e6)
    assert trainer.callback_metrics["netscore_gmacs"] == pytest.approx(TINY_MACS / 1e9)


def test_a_dict_given_as_keyword_arguments_to_a_forward_that_takes_a_dict_names_the_tuple() -> None:
    model = DictForward()
    with pytest.raises(ValueError, match=r"unexpected keyword argument 'x'.*inside a tuple"):
        nsearch.count_complexity(model, {"x": torch.zeros(1, 1, 8, 8)})
    assert nsearch.count_complexity(model, ({"x": torch.zeros(1, 1, 8, 8)},)).macs == TINY_MACS


def test_a_datamodule_run_is_named_after_its_datamodule(tmp_path: Path) -> None:
    from user_recipe import BlobData

    settings = SearchSettings(space="mobilenet-uniform", trials=1, epochs=1, min_accuracy=5.0, rungs="",
                              timeout=None, sampler="tpe",
                              datamodule="user_recipe:blob_data")  # fmt: skip
    run_study(settings, tmp_path, progress=False)
    name = "nsearch-mobilenet-uniform-blob_data-netscore"
    assert json.loads((tmp_path / "run.json").read_text())["study_name"] == name
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# nsearch: mobilenet-uniform on blob_data\n")
    assert f"Study `{name}`" in report
    # A datamodule given as an object is named after its class; --data names the rest.
    plain = SearchSettings(space="mobilenet-uniform")
    assert default_study_name(plain, BlobData()) == "nsearch-mobilenet-uniform-BlobData-netscore"
    assert data_name(plain) == "embedded"


def test_a_trial_at_zero_accuracy_has_zero_information_density_and_minus_inf_netscore() -> None:
    from nsearch.search.results import TrialRecord

    record = TrialRecord(trial=0, state="complete", architecture={}, params=10_000,
                         macs=1_000_000, val_correct=0, val_images=12)  # fmt: skip
    assert record.information_density == 0.0 and record.netscore == float("-inf")
