from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from nsearch.cost.runtimes import export_onnx, export_program
from nsearch.deployment import parity
from nsearch.deployment.normalized import Normalized
from nsearch.deployment.parity import (
    DEFAULT_ATOL,
    Parity,
    compare_logits,
    onnx_parity,
    program_parity_in_fresh_process,
)

SHAPE = (3, 32, 32)


def small_mobilenet(seed: int) -> nn.Module:
    """torchvision's MobileNetV2 at width 0.25, with settled BatchNorm statistics, normalising
    [0, 1] images inside."""
    torch.manual_seed(seed)
    net = torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10)
    with torch.no_grad():
        for _ in range(3):
            net.train()(torch.randn(8, *SHAPE))
    return Normalized(net, [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]).eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Path, Path]:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = small_mobilenet(0)
    folder = tmp_path_factory.mktemp("export")
    example = torch.rand(1, *SHAPE)  # batch 1: the batch dimension must stay dynamic anyway
    program = export_program(model, example, folder / "model.pt2")
    onnx_file = export_onnx(model, example, folder / "model.onnx")
    return model, program, onnx_file


def logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(images)


def test_program_loads_with_torch_export_and_matches_at_any_batch(
    exported: tuple[nn.Module, Path, Path],
) -> None:
    model, program, _ = exported
    loaded = torch.export.load(program).module()
    for batch in (1, 5):
        images = torch.rand(batch, *SHAPE)
        assert torch.allclose(logits(loaded, images), logits(model, images), atol=DEFAULT_ATOL)


def test_onnx_is_valid_named_and_matches_onnxruntime_at_batch_1_and_5(
    exported: tuple[nn.Module, Path, Path],
) -> None:
    import onnx
    import onnxruntime as ort

    model, _, onnx_file = exported
    proto = onnx.load(str(onnx_file))
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == ["images"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value  # symbolic, not a fixed size
    assert not list(onnx_file.parent.glob("*.data"))  # one self-contained file
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        images = torch.rand(batch, *SHAPE)
        got = torch.from_numpy(session.run(None, {"images": images.numpy()})[0])
        assert got.shape == (batch, 10)
        assert torch.allclose(got, logits(model, images), atol=DEFAULT_ATOL)


def test_onnx_parity_records_agreement_and_disagreement(
    exported: tuple[nn.Module, Path, Path],
) -> None:
    model, _, onnx_file = exported
    images = torch.rand(300, *SHAPE)  # more than one chunk of 256
    parity = onnx_parity(onnx_file, model, images)
    assert isinstance(parity, Parity)
    assert (parity.n_images, parity.same_class, parity.ok) == (300, 300, True)
    assert 0 <= parity.max_abs_diff <= parity.atol == DEFAULT_ATOL
    assert parity.same_class_fraction == 1.0 and parity.runtime == "onnxruntime"

    other = onnx_parity(onnx_file, small_mobilenet(1), images)
    assert not other.ok and other.max_abs_diff > DEFAULT_ATOL and other.n_images == 300


def test_exports_leave_the_model_as_it_was(tmp_path: Path) -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Flatten(), nn.LazyLinear(10)
    )
    model(torch.rand(2, *SHAPE))  # materialise the lazy layer, give BatchNorm statistics
    model[1].eval()  # mixed flags must come back exactly as they were
    flags = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    export_program(model, torch.rand(1, *SHAPE), tmp_path / "model.pt2")
    assert [m.training for m in model.modules()] == flags
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    loaded = torch.export.load(tmp_path / "model.pt2").module()
    images = torch.rand(3, *SHAPE)  # exported in eval mode: running statistics, no dropout
    assert torch.allclose(logits(loaded, images), logits(model.eval(), images), atol=DEFAULT_ATOL)


def test_program_runs_in_a_fresh_process_without_nsearch(
    exported: tuple[nn.Module, Path, Path],
) -> None:
    model, program, _ = exported
    images = torch.rand(7, *SHAPE)
    parity = program_parity_in_fresh_process(program, images, logits(model, images))
    assert (parity.n_images, parity.same_class, parity.ok) == (7, 7, True)
    assert parity.max_abs_diff <= DEFAULT_ATOL
    assert parity.runtime == "torch.export (fresh process)"


def test_fresh_process_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="`path` must be a file"):
        program_parity_in_fresh_process(
            tmp_path / "missing.pt2", torch.rand(1, *SHAPE), torch.zeros(1, 10)
        )
    (tmp_path / "model.pt2").write_bytes(b"not a program")
    monkeypatch.setattr(parity, "_FRESH_PROCESS", "raise SystemExit('cannot load it')")
    with pytest.raises(RuntimeError, match="fresh process failed with exit status 1: cannot load"):
        program_parity_in_fresh_process(
            tmp_path / "model.pt2", torch.rand(1, *SHAPE), torch.zeros(1, 10)
        )


def test_compare_logits() -> None:
    reference = torch.tensor([[0.0, 1.0, 2.0], [3.0, 2.0, 1.0]])
    close = compare_logits(reference + 5e-5, reference, atol=1e-4, runtime="x")
    assert (close.n_images, close.same_class, close.ok) == (2, 2, True)
    assert close.max_abs_diff == pytest.approx(5e-5, rel=1e-2)
    swapped = compare_logits(reference.flip(1), reference, atol=1e-4, runtime="x")
    assert (swapped.same_class, swapped.ok, swapped.max_abs_diff) == (0, False, 2.0)
    broken = compare_logits(torch.full_like(reference, math.nan), reference, atol=1.0, runtime="x")
    assert math.isnan(broken.max_abs_diff) and not broken.ok
    with pytest.raises(ValueError, match=r"reference's shape \(2, 3\), got \(2, 2\)"):
        compare_logits(reference[:, :2], reference, atol=1e-4, runtime="x")


def test_normalized_takes_unit_range_images() -> None:
    wrapped = Normalized(nn.Identity(), [0.5, 0.25], [0.5, 0.25])
    out = wrapped(torch.stack([torch.ones(2, 2), torch.zeros(2, 2)]).unsqueeze(0))
    assert out[0, 0].eq(1.0).all() and out[0, 1].eq(-1.0).all()
    assert dict(wrapped.named_buffers())["mean"].shape == (1, 2, 1, 1)
    with pytest.raises(ValueError, match="one value per channel"):
        Normalized(nn.Identity(), [0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"`std` must be positive, got \[0.0\]"):
        Normalized(nn.Identity(), [0.5], [0.0])


def test_bad_example_and_atol(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="`example` must be a batch"):
        export_program(nn.Identity(), torch.rand(3), tmp_path / "model.pt2")
    with pytest.raises(ValueError, match="`atol` must be a non-negative number, got -1"):
        program_parity_in_fresh_process(
            tmp_path / "m.pt2", torch.rand(1, 3), torch.rand(1, 3), atol=-1
        )


def test_missing_onnx_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'nsearch\[deploy\]'"):
        export_onnx(nn.Identity(), torch.rand(1, 3), tmp_path / "model.onnx")
