from __future__ import annotations

import logging

import pytest
import torch
import torchvision
from torch import nn

import nsearch
from nsearch.cost import complexity


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),  # 8*1*9 MACs per output pixel, 28*28 pixels
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),  # 80 MACs
    )


def test_counts_conv_and_linear_macs_exactly() -> None:
    c = nsearch.count_complexity(small_cnn(), (1, 28, 28))
    assert c.macs == 8 * 9 * 28 * 28 + 80
    assert c.flops == 2 * c.macs
    assert c.params == (8 * 9 + 8) + 16 + (80 + 10)
    assert c.params_millions == pytest.approx(c.params / 1e6)
    assert c.gmacs == pytest.approx(c.macs / 1e9)
    assert c.convention == "torchvision"
    assert c.input_shape == (1, 28, 28)


def test_fvcore_convention_adds_norm_and_pooling() -> None:
    tv = nsearch.count_complexity(small_cnn(), (1, 28, 28))
    everything = nsearch.count_complexity(small_cnn(), (1, 28, 28), convention="fvcore")
    assert everything.macs > tv.macs


def test_counting_in_train_mode_changes_nothing() -> None:
    model = small_cnn().train()
    model[3].eval()  # mixed flags must come back exactly as they were
    for _ in range(3):  # give BatchNorm non-trivial statistics
        model(torch.randn(4, 1, 28, 28))
    model.zero_grad()
    model(torch.randn(2, 1, 28, 28)).sum().backward()
    flags = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]

    nsearch.count_complexity(model, (1, 28, 28), cache=False)

    assert [m.training for m in model.modules()] == flags
    for key, value in model.state_dict().items():  # running_mean, running_var, num_batches_tracked
        assert torch.equal(value, state[key]), key
    for p, g in zip(model.parameters(), grads):
        assert p.requires_grad and torch.equal(p.grad, g)


def test_torchvision_mobilenet_v2_matches_its_metadata() -> None:
    weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    c = nsearch.count_complexity(torchvision.models.mobilenet_v2(), (3, 224, 224))
    assert c.params == weights.meta["num_params"]
    assert c.gmacs == pytest.approx(weights.meta["_ops"], abs=0.0005)


def test_attention_counts_projections_and_both_products() -> None:
    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(32, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.attn(x, x, x, need_weights=False)[0]

    c = nsearch.count_complexity(Attention().eval(), (16, 32))
    projections = 16 * 32 * (3 * 32) + 16 * 32 * 32  # in_proj (q, k, v) and out_proj
    attention = 4 * 16 * 16 * 8 * 2  # heads x queries x keys x head dim, for QK^T and AV
    assert c.macs == projections + attention
    assert "aten::scaled_dot_product_attention" not in c.uncounted_ops


def test_same_architecture_is_counted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    trace = complexity._trace_macs
    monkeypatch.setattr(
        complexity,
        "_trace_macs",
        lambda *a: calls.append(1) or trace(*a),  # type: ignore[func-returns-value]
    )
    first = nsearch.count_complexity(small_cnn(), (1, 29, 29))
    again = nsearch.count_complexity(small_cnn(), (1, 29, 29))  # a new instance, same architecture
    assert again == first and len(calls) == 1
    nsearch.count_complexity(small_cnn(), (1, 30, 30))  # another input shape
    wider = small_cnn()
    wider[0] = nn.Conv2d(1, 8, 5, padding=2)  # another architecture
    assert nsearch.count_complexity(wider, (1, 29, 29)).macs > first.macs
    assert len(calls) == 3


def test_uncounted_ops_are_listed_once_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Cumulative(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cumsum(x, dim=-1).exp()

    with caplog.at_level(logging.DEBUG):
        c = nsearch.count_complexity(Cumulative(), (4, 8), cache=False)
    assert c.macs == 0 and c.params == 0
    assert c.uncounted_ops == {"aten::cumsum": 1, "aten::exp": 1}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"inputs": ()}, r"`inputs` must be .* got \(\)"),
        ({"inputs": (3, 0, 8)}, r"`inputs` .* got \(3, 0, 8\)"),
        ({"inputs": (3, 2.5)}, r"`inputs` .* got \(3, 2.5\)"),
        (
            {"inputs": (1, 8, 8), "convention": "flops"},
            r"`convention` can be torchvision, fvcore, got 'flops'",
        ),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        nsearch.count_complexity(small_cnn(), **kwargs)


class Repeated(nn.Module):
    """The same layer applied `times` times: one repr and one set of parameter shapes for any
    `times`, a different count for each."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.layer = nn.Linear(8, 8)
        self.times = times

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.times):
            x = self.layer(x)
        return x


def test_cache_keeps_apart_architectures_that_differ_only_in_a_plain_attribute() -> None:
    once, eight = Repeated(1), Repeated(8)
    assert repr(once) == repr(eight)
    assert nsearch.count_complexity(once, (8,)).macs == 64
    assert nsearch.count_complexity(eight, (8,)).macs == 8 * 64
    assert complexity.architecture_key(Repeated(8)) == complexity.architecture_key(eight)


# Example inputs: a tensor, positional arguments, keyword arguments.


class Masked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return self.conv(x * mask) * scale


MASKED_MACS = 8 * 9 * 28 * 28


def test_an_example_tensor_counts_one_input_of_its_batch() -> None:
    shape = nsearch.count_complexity(small_cnn(), (1, 28, 28))
    batch = nsearch.count_complexity(small_cnn(), torch.rand(4, 1, 28, 28), cache=False)
    assert batch == shape
    assert batch.input_shape == (1, 28, 28)


@pytest.mark.parametrize(
    "inputs",
    [
        (torch.rand(1, 1, 28, 28), torch.ones(1, 1, 28, 28)),
        [torch.rand(3, 1, 28, 28), torch.ones(3, 1, 28, 28), 0.5],
        {"x": torch.rand(2, 1, 28, 28), "mask": torch.ones(2, 1, 28, 28)},
        {"mask": torch.ones(2, 1, 28, 28), "x": torch.rand(2, 1, 28, 28), "scale": 2.0},
    ],
)
def test_example_inputs_of_several_arguments(inputs: object) -> None:
    c = nsearch.count_complexity(Masked(), inputs, cache=False)
    assert c.macs == MASKED_MACS
    assert c.params == 8 * 9 + 8
    assert c.input_shape == (1, 28, 28)


def test_example_inputs_keep_integer_dtypes_and_leave_the_model_as_it_was() -> None:
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(100, 16)
            self.head = nn.Linear(16, 4)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.head(self.embed(tokens).mean(1))

    model = Tokens().train()
    c = nsearch.count_complexity(model, torch.randint(0, 100, (2, 10)), cache=False)
    assert c.macs == 16 * 4 and c.input_shape == (10,)
    assert model.training


def test_the_cache_key_covers_the_example_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    trace = complexity._trace_macs
    monkeypatch.setattr(
        complexity,
        "_trace_macs",
        lambda *a: calls.append(1) or trace(*a),  # type: ignore[func-returns-value]
    )
    first = nsearch.count_complexity(Masked(), (torch.rand(1, 1, 28, 28), torch.ones(1, 1, 28, 28)))
    again = nsearch.count_complexity(
        Masked(), (torch.zeros(1, 1, 28, 28), torch.zeros(1, 1, 28, 28))
    )
    assert again == first and len(calls) == 1  # values do not matter, shapes and dtypes do
    larger = nsearch.count_complexity(
        Masked(), (torch.rand(1, 1, 32, 32), torch.ones(1, 1, 32, 32))
    )
    assert larger.macs == 8 * 9 * 32 * 32 and len(calls) == 2
    keywords = nsearch.count_complexity(
        Masked(), {"x": torch.rand(1, 1, 28, 28), "mask": torch.ones(1, 1, 28, 28)}
    )
    assert keywords.macs == MASKED_MACS and len(calls) == 3
    scaled = (torch.rand(1, 1, 28, 28), torch.ones(1, 1, 28, 28), 2.0)
    nsearch.count_complexity(Masked(), scaled)
    assert len(calls) == 4


# Failures to run the model are ValueErrors that say what to pass.


def test_a_shape_with_a_batch_dimension_says_what_to_pass() -> None:
    with pytest.raises(ValueError, match=r"\(1, 3, 64, 64\).*batch dimension.*\(3, 64, 64\)"):
        nsearch.count_complexity(torchvision.models.resnet18(), (1, 3, 64, 64))


def test_a_meta_device_model_says_to_materialise_it() -> None:
    with torch.device("meta"):
        model = small_cnn()
    with pytest.raises(ValueError, match=r"meta device.*to_empty\(device=\"cpu\"\)"):
        nsearch.count_complexity(model, (1, 28, 28))


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        ((5,), r"could not run on one input of shape \(5,\)"),
        (torch.zeros(2, 5), r"could not run on example inputs \(shape \(2, 5\)\)"),
    ],
)
def test_a_model_that_cannot_run_on_the_input_is_a_value_error(inputs: object, match: str) -> None:
    with pytest.raises(ValueError, match=match) as error:
        nsearch.count_complexity(nn.Linear(8, 4), inputs, cache=False)
    assert isinstance(error.value.__cause__, RuntimeError)


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        (
            torch.zeros(()),
            r"`inputs` .* first dimension is a batch .* got tensors of shapes \[\(\)\]",
        ),
        ({}, r"`inputs` .* a tensor whose first dimension .* got tensors of shapes \[\]"),
        (
            (torch.zeros(0, 3),),
            r"`inputs` .* at least one input, got tensors of shapes \[\(0, 3\)\]",
        ),
        ("x", r"`inputs` must be .* got 'x'"),
    ],
)
def test_bad_example_inputs(inputs: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        nsearch.count_complexity(small_cnn(), inputs)
