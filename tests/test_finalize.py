"""Finalize: train a picked architecture from scratch, test it, export it, check parity."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from search_helpers import refused

from nsearch import finalize
from nsearch.deployment import Bundle
from nsearch.search_spaces import get_space


@pytest.fixture(scope="module")
def finalized(searched: Path, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    dest = tmp_path_factory.mktemp("final")
    return finalize.finalize(searched, rank=1, epochs=1, train_limit=300, dest=dest,
                             progress=False)  # fmt: skip


def test_finalize_trains_tests_exports_and_checks_parity(finalized: Bundle) -> None:
    f = finalized.description
    for name in ("model.pt2", "model.onnx", "model.pte", "weights.pt", "config.json",
                 "MODEL_CARD.md"):
        assert (finalized.folder / name).is_file(), name
    config = json.loads((finalized.folder / "config.json").read_text())
    assert config["test_images"] == 5000 and config["training"]["train_images"] == 300
    low, high = config["test_accuracy_ci95_percent"]
    assert low <= config["test_accuracy_percent"] <= high
    # The weights were trained: they are not those the same seed builds.
    space = get_space(config["space"])
    torch.manual_seed(0)
    untrained = space.build(space.config_from_params(config["architecture"]), in_channels=1,
                            num_classes=10, input_size=28)  # fmt: skip
    trained = torch.load(finalized.weights, weights_only=True)
    assert any(not torch.equal(v, trained[k]) for k, v in untrained.state_dict().items())
    # Parity on every test image, by ONNX Runtime and by both programs in a fresh process.
    assert {p.runtime for p in f.parities} == {
        "onnxruntime", "torch.export (fresh process)", "executorch (XNNPACK, fresh process)"}
    for parity in f.parities:
        assert parity.ok and parity.n_images == 5000 and parity.same_class == 5000
    assert {lat.runtime for lat in f.latencies} == {"torch", "onnxruntime", "executorch"}
    assert all(lat.median_ms > 0 and lat.threads == 1 for lat in f.latencies)


def test_the_model_card_states_what_a_device_team_needs(finalized: Bundle) -> None:
    card = finalized.card.read_text()
    assert finalized.description.test is not None
    accuracy = finalized.description.test.percent
    assert f"Test accuracy **{accuracy:.2f} %**" in card
    assert "Wilson 95 % interval" in card and "torch.export.load" in card
    for words in ("Parameters:", "GMACs", "NetScore:", "| onnxruntime | 1 |", "| torch | 1 |",
                  "| onnxruntime | 5,000 | 5,000 (100.00 %)", "Training recipe"):  # fmt: skip
        assert words in card, words


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--rank", "9"], r"`--rank` must be between 1 and \d \(the front's size\), got 9\."),
        (["--trial", "99"], r"Trial 99 has no trained model; the trials that do are: 0, 1\."),
        (["--rank", "1", "--epochs", "0"], r"--epochs: must be at least 1, got 0"),
    ],
)
def test_a_trial_or_rank_that_does_not_exist_is_one_sentence(
    searched: Path, argv: list[str], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert re.search(match, refused(finalize.main, ["--out", str(searched), *argv], capsys))
