"""The files for a device: an ExecuTorch program checked in its runtime, and int8 models with their
accuracy, agreement, size and latency, on one tiny network."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from nsearch.core.metrics import Measured
from nsearch.deployment import InputSpec, LabelledImages, ModelDescription, write_bundle

pytest.importorskip("executorch")
pytest.importorskip("onnxruntime")

SHAPE = (1, 28, 28)


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )  # fmt: skip
    with torch.no_grad():  # settled statistics, so that eval-mode logits differ between images
        for _ in range(3):
            net.train()(torch.rand(32, *SHAPE))
    return net.eval()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    model = tiny_cnn()
    generator = torch.Generator().manual_seed(1)
    # Cut from N x H x W x 1 arrays, as a folder's images are: strides that also read as
    # channels-last, which ExecuTorch's int8 convolutions cannot run if a program is traced on them.
    images = torch.rand(96, 28, 28, 1, generator=generator).permute(0, 3, 1, 2)
    with torch.no_grad():  # labels the model mostly gets right, so accuracy means something
        labels = model((images - 0.5) / 0.25).argmax(1)
    labels[::10] = (labels[::10] + 1) % 10
    description = ModelDescription(
        space="test", architecture={}, architecture_text="a tiny CNN", trial=0,
        weights="random", input=InputSpec(SHAPE, (0.5,), (0.25,)),
        classes=tuple(str(i) for i in range(10)), params=1, macs=1,
        test=Measured(int((model((images - 0.5) / 0.25).argmax(1) == labels).sum()), 96),
    )  # fmt: skip
    return write_bundle(model, tmp_path_factory.mktemp("bundle"), description,
                        LabelledImages(images, labels), quantize="int8",
                        calibration=torch.rand(64, 28, 28, 1, generator=generator).permute(0, 3, 1, 2),
                        max_batch=16)  # fmt: skip


def test_the_executorch_program_matches_the_model_at_any_batch_up_to_its_bound(bundle) -> None:
    (parity,) = [p for p in bundle.description.parities if p.runtime.startswith("executorch")]
    assert parity.n_images == 96 and parity.same_class == 96 and parity.max_abs_diff <= 1e-3
    from nsearch.cost.runtimes import executorch_method

    forward = executorch_method(bundle.executorch, threads=1)
    program = torch.export.load(bundle.program).module()
    for batch in (1, 5, 16):
        images = torch.rand(batch, *SHAPE)
        torch.testing.assert_close(forward(images), program(images), rtol=1e-4, atol=1e-4)
    with pytest.raises(RuntimeError):
        forward(torch.rand(17, *SHAPE))  # over the stated bound
    config = json.loads(bundle.config.read_text())
    assert config["input"]["max_batch_executorch"] == 16
    assert {"torch", "onnxruntime", "executorch"} == set(config["latency_ms_batch1"])


def test_int8_models_are_tested_against_fp32_and_stated_in_config_and_card(bundle) -> None:
    results = {r.file: r for r in bundle.description.int8}
    assert set(results) == {"model-int8.pte", "model-int8.onnx"}
    for name, r in results.items():
        assert (bundle.folder / name).is_file()
        assert r.test.images == 96 and 0 <= r.agreement <= 96
        assert r.agreement >= 80  # int8 keeps nearly every fp32 decision of this network
        assert r.file_bytes == (bundle.folder / name).stat().st_size
        assert r.latency is not None and r.latency.median_ms > 0 and r.latency.runtime == r.runtime
        low, high = r.difference_ci95_points
        assert low <= r.test.percent - bundle.description.test.percent <= high
    config = json.loads(bundle.config.read_text())["int8"]
    assert set(config) == set(results)
    for entry in config.values():
        for key in ("test_accuracy_percent", "test_accuracy_ci95_percent",
                    "top1_agreement_with_fp32_percent", "file_bytes", "size_ratio_to_fp32",
                    "latency_ms_batch1", "test_accuracy_difference_ci95_points"):  # fmt: skip
            assert entry[key] is not None, key
    card = bundle.card.read_text()
    assert "## fp32 and int8" in card and "told apart from fp32's" in card
    assert "| model-int8.pte | executorch |" in card and "| model.pte | executorch |" in card


def test_pte_size_splits_both_programs_into_parts_that_add_up(bundle) -> None:
    script = Path(__file__).resolve().parents[1] / "experiments" / "pte_size.py"
    files = [bundle.executorch, bundle.folder / "model-int8.pte"]
    done = subprocess.run([sys.executable, str(script), "--json", *map(str, files)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    fp32, int8 = (json.loads(done.stdout)[str(f)] for f in files)
    for size, path in ((fp32, files[0]), (int8, files[1])):
        parts = ("weights", "scales", "delegate_graphs", "program", "alignment")
        assert size["total"] == path.stat().st_size == sum(size[p] for p in parts)
        assert size["weights"] > 0 and size["delegate_graphs"] > 0 and size["alignment"] >= 0
    assert fp32["scales"] == 0 < int8["scales"]  # per-channel scales come with int8 only
    assert int8["weights"] < fp32["weights"] / 2


def test_unknown_scheme_and_missing_calibration_are_refused(tmp_path: Path) -> None:
    description = ModelDescription("t", {}, "", 0, "", InputSpec(SHAPE, (0.5,), (0.25,)),
                                   ("a", "b"), 1, 1, None)  # fmt: skip
    test = LabelledImages(torch.rand(2, *SHAPE), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="`quantize` can be int8 or None, got 'int4'"):
        write_bundle(tiny_cnn(), tmp_path, description, test, quantize="int4")
    with pytest.raises(ValueError, match="int8 quantization needs calibration images"):
        write_bundle(tiny_cnn(), tmp_path, description, test, quantize="int8")


def test_the_callers_notes_stay_in_config_and_card(tmp_path: Path) -> None:
    description = ModelDescription("t", {}, "", 0, "", InputSpec(SHAPE, (0.5,), (0.25,)),
                                   tuple("abcdefghij"), 1, 1, None,
                                   notes=("trained on a sample of the data",))  # fmt: skip
    test = LabelledImages(torch.rand(4, *SHAPE), torch.tensor([0, 1, 2, 3]))
    bundle = write_bundle(tiny_cnn(), tmp_path, description, test, formats=("pt2",))
    assert json.loads(bundle.config.read_text())["notes"] == ["trained on a sample of the data"]
    assert "trained on a sample of the data" in bundle.card.read_text()


def test_a_network_trained_channels_last_lowers_to_executorch(tmp_path: Path) -> None:
    # nsearch's Classifier trains channels-last; XNNPACK's lowering failed on such weights.
    from nsearch.cost.runtimes import executorch_method, export_executorch
    from nsearch.search_spaces import get_space

    space = get_space("mobilenet")
    torch.manual_seed(0)
    net = space.build(space.largest, in_channels=3, num_classes=4, input_size=32).eval()
    net = net.to(memory_format=torch.channels_last)
    path = export_executorch(net, torch.rand(1, 3, 32, 32), tmp_path / "model.pte", max_batch=4)
    images = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        expected = net(images)
    assert torch.allclose(executorch_method(path, threads=1)(images), expected, atol=1e-3)
    assert next(net.parameters()).dim() == 4 and not all(p.is_contiguous() for p in net.parameters())
