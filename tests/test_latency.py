from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from nsearch.cost import latency
from nsearch.cost.latency import MIN_BLOCKS, Latency, measure_file_latency, measure_latency
from nsearch.cost.machine import machine_description
from nsearch.cost.runtimes import export_executorch

SHORT = 0.02  # seconds of timed calls: enough for behaviour, not for a benchmark


def tiny_cnn() -> nn.Sequential:
    """About 25 thousand MACs at 1 x 28 x 28."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 10),
    )


def large_cnn() -> nn.Sequential:
    """About 87 million MACs at 1 x 28 x 28: 3,500 times the tiny one."""
    return nn.Sequential(
        nn.Conv2d(1, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 96, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(96, 96, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(96, 10),
    )


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    latency.clear_cache()


def test_statistics_are_positive_finite_and_ordered() -> None:
    result = measure_latency(tiny_cnn(), (1, 28, 28), threads=1, min_run_time=SHORT)
    assert isinstance(result, Latency)
    assert 0 < result.median_ms < math.inf
    assert result.p90_ms >= result.median_ms
    assert 0 <= result.iqr_ms < math.inf
    assert result.blocks >= MIN_BLOCKS
    assert result.runs >= result.blocks and result.runs % result.blocks == 0
    assert result.per_image_ms == result.median_ms
    assert (result.runtime, result.threads, result.batch_size) == ("torch", 1, 1)
    assert result.input_shape == (1, 28, 28)
    assert result.machine == machine_description() and "cores" in result.machine


def test_a_tiny_network_is_faster_than_a_much_larger_one() -> None:
    tiny = measure_latency(tiny_cnn(), (1, 28, 28), threads=1, min_run_time=SHORT)
    large = measure_latency(large_cnn(), (1, 28, 28), threads=1, min_run_time=SHORT)
    assert tiny.median_ms < large.median_ms


def test_threads_come_back_on_success_and_failure() -> None:
    before = torch.get_num_threads()
    seen: list[int] = []

    class Spy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(torch.get_num_threads())
            return x

    target = 1 if before != 1 else 2
    measure_latency(Spy(), (3,), threads=target, min_run_time=SHORT)
    assert set(seen) == {target}
    assert torch.get_num_threads() == before

    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("broken on purpose")

    with pytest.raises(RuntimeError, match="on purpose"):
        measure_latency(Broken(), (3,), threads=target, min_run_time=SHORT)
    assert torch.get_num_threads() == before


def test_runs_in_eval_and_inference_mode_and_leaves_the_model_as_it_was() -> None:
    model = tiny_cnn().train()
    model[1].eval()  # mixed flags must come back exactly as they were
    flags = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes: list[tuple[bool, bool]] = []
    model.register_forward_hook(
        lambda m, i, o: modes.append((m.training, torch.is_inference_mode_enabled()))
    )
    measure_latency(model, (1, 28, 28), threads=1, min_run_time=SHORT)
    assert set(modes) == {(False, True)}
    assert [m.training for m in model.modules()] == flags
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert all(p.grad is None for p in model.parameters())
    assert not torch.is_inference_mode_enabled()


def test_an_example_tensor_is_repeated_to_the_batch_size() -> None:
    shapes: list[tuple[int, ...]] = []
    model = tiny_cnn()
    model.register_forward_hook(lambda m, i, o: shapes.append(tuple(i[0].shape)))
    result = measure_latency(model, torch.rand(1, 28, 28), batch_size=4, min_run_time=SHORT)
    assert set(shapes) == {(4, 1, 28, 28)}
    assert (result.batch_size, result.input_shape) == (4, (1, 28, 28))
    assert result.per_image_ms == pytest.approx(result.median_ms / 4)


def test_cache_hit_returns_the_same_result_without_measuring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []
    measure = latency.time_call

    def counting(*args: object, **kwargs: object) -> Latency:
        calls.append(1)
        return measure(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(latency, "time_call", counting)
    first = measure_latency(tiny_cnn(), (1, 28, 28), threads=1, min_run_time=SHORT)
    again = measure_latency(tiny_cnn(), (1, 28, 28), threads=1, min_run_time=SHORT)
    assert again is first and len(calls) == 1  # another instance of the same architecture

    measure_latency(tiny_cnn(), (1, 28, 28), threads=2, min_run_time=SHORT)
    measure_latency(tiny_cnn(), (1, 28, 28), threads=1, batch_size=2, min_run_time=SHORT)
    measure_latency(tiny_cnn(), (1, 32, 32), threads=1, min_run_time=SHORT)
    measure_latency(large_cnn(), (1, 28, 28), threads=1, min_run_time=SHORT)
    assert len(calls) == 5
    fresh = measure_latency(tiny_cnn(), (1, 28, 28), threads=1, min_run_time=SHORT, cache=False)
    assert fresh is not first and len(calls) == 6
    latency.clear_cache()
    measure_latency(tiny_cnn(), (1, 28, 28), threads=1, min_run_time=SHORT)
    assert len(calls) == 7


def test_onnxruntime_runtime() -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    before = torch.get_num_threads()
    result = measure_latency(
        tiny_cnn(), (1, 28, 28), runtime="onnxruntime", threads=1, min_run_time=SHORT
    )
    assert result.runtime == "onnxruntime" and result.threads == 1
    assert 0 < result.median_ms <= result.p90_ms < math.inf
    assert result.blocks >= MIN_BLOCKS
    assert torch.get_num_threads() == before


def test_executorch_runtime_times_the_lowered_network(tmp_path: Path) -> None:
    pytest.importorskip("executorch")
    model = tiny_cnn()
    result = measure_latency(model, (1, 28, 28), runtime="executorch", threads=1,
                             min_run_time=SHORT)  # fmt: skip
    assert result.runtime == "executorch" and result.threads == 1
    assert 0 < result.median_ms <= result.p90_ms < math.inf and result.blocks >= MIN_BLOCKS
    path = export_executorch(model, torch.rand(1, 1, 28, 28), tmp_path / "model.pte")
    from_file = measure_file_latency(path, (1, 28, 28), runtime="executorch", threads=1,
                                     min_run_time=SHORT)  # fmt: skip
    assert from_file.runtime == "executorch" and from_file.median_ms > 0
    with pytest.raises(ValueError, match="thread pool cannot be changed to 2"):
        measure_file_latency(path, (1, 28, 28), runtime="executorch", threads=2)


def test_onnxruntime_missing_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    before = torch.get_num_threads()
    with pytest.raises(ImportError, match=r"pip install 'nsearch\[deploy\]'"):
        measure_latency(tiny_cnn(), (1, 28, 28), runtime="onnxruntime", min_run_time=SHORT)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("inputs", "kwargs", "match"),
    [
        ((1, 28, 28), {"runtime": "tvm"}, r"`runtime` can be torch, onnxruntime, executorch, got 'tvm'"),
        ((1, 28, 28), {"threads": 0}, r"`threads` must be an integer >= 1 or None, got 0"),
        ((1, 28, 28), {"threads": 1.5}, r"`threads` .* got 1.5"),
        ((1, 28, 28), {"batch_size": 0}, r"`batch_size` must be an integer >= 1, got 0"),
        ((1, 28, 28), {"min_run_time": 0}, r"`min_run_time` must be a positive .* got 0"),
        ((1, 28, 28), {"min_run_time": -1.0}, r"`min_run_time` .* got -1.0"),
        ((1, 28, 28), {"min_run_time": math.inf}, r"`min_run_time` .* got inf"),
        ((1, -28, 28), {}, r"`inputs` must be .* got \(1, -28, 28\)"),
        ((), {}, r"`inputs` must be .* got \(\)"),
        ((1, 28.0, 28), {}, r"`inputs` must be .* got \(1, 28.0, 28\)"),
        (torch.tensor(1.0), {}, r"`inputs` must be one input .* 0-d tensor"),
    ],
)
def test_bad_arguments(inputs: object, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        measure_latency(tiny_cnn(), inputs, **kwargs)  # type: ignore[arg-type]
