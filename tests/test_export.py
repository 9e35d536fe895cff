"""Export of a search checkpoint: files that run without nsearch, and a config.json whose every
number is in the unit it states."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from search_helpers import read_csv

from nsearch import export
from nsearch.deployment import Bundle
from nsearch.search_spaces import get_space


@pytest.fixture(scope="module")
def exported(searched: Path, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return export.export_trial(searched, rank=1, dest=tmp_path_factory.mktemp("export"))


def test_config_applied_as_documented_gives_the_exported_models_outputs(
    exported: Bundle, searched: Path
) -> None:
    config = json.loads(exported.config.read_text())
    row = next(r for r in read_csv(searched / "pareto.csv") if r["rank"] == "1")
    assert config["test_accuracy_percent"] == pytest.approx(float(row["test_accuracy_percent"]))
    assert config["trial"] == int(row["trial"]) and config["test_images"] == 5000
    low, high = config["test_accuracy_ci95_percent"]
    assert low < config["test_accuracy_percent"] < high
    assert "not a final training run" in config["weights"]
    # Rebuild the network from config.json alone, load weights.pt, and normalise [0, 1] images
    # with config.json's mean and std, as documented.
    space = get_space(config["space"])
    c, h, w = config["input"]["shape_chw"]
    network = space.build(space.config_from_params(config["architecture"]), in_channels=c,
                          num_classes=len(config["classes"]), input_size=h)  # fmt: skip
    network.load_state_dict(torch.load(exported.weights, weights_only=True))
    network.eval()
    mean = torch.tensor(config["normalisation"]["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(config["normalisation"]["std"]).view(1, -1, 1, 1)
    assert float(mean.min()) > 0 and float(mean.max()) < 1  # [0, 1] units
    images = torch.rand(64, c, h, w)
    with torch.no_grad():
        documented = network((images - mean) / std)
        program = torch.export.load(exported.program).module()(images)
    torch.testing.assert_close(program, documented, rtol=1e-4, atol=1e-4)
    assert torch.equal(program.argmax(1), documented.argmax(1))
    import onnxruntime

    assert exported.onnx is not None
    session = onnxruntime.InferenceSession(str(exported.onnx), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"images": images.numpy()})
    np.testing.assert_allclose(logits, documented.numpy(), rtol=1e-4, atol=1e-4)


def test_the_program_loads_and_runs_without_nsearch(exported: Bundle) -> None:
    code = (
        "import sys, warnings, torch; sys.modules['nsearch'] = None; "
        "warnings.simplefilter('error'); "
        f"m = torch.export.load({str(exported.program)!r}).module(); "
        "print(m(torch.rand(3, 1, 28, 28)).shape)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "torch.Size([3, 10])" in result.stdout


def test_export_does_not_import_lightning() -> None:
    code = "import nsearch.export, sys; print('pytorch_lightning' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_without_the_deploy_extra_onnx_is_skipped_with_one_sentence(
    searched: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from nsearch.cost import extras

    real = extras.importlib.util.find_spec
    monkeypatch.setattr(extras.importlib.util, "find_spec",
                        lambda name: None if name in ("onnx", "executorch") else real(name))  # fmt: skip
    assert export.main(["--out", str(searched), "--trial", "0", "--dest", str(tmp_path),
                        "--formats", "pt2", "onnx", "pte"]) == 0
    assert not (tmp_path / "model.onnx").exists() and (tmp_path / "model.pt2").is_file()
    assert not (tmp_path / "model.pte").exists()
    out = capsys.readouterr().out
    assert "model.onnx was not written: install the deploy extra" in out
    assert "model.pte was not written: install the deploy extra" in out
