from __future__ import annotations

import logging

import pytest
import torch
import torchvision
from torch import nn

import nsearch
from nsearch import complexity


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
        ({"input_shape": ()}, r"`input_shape` must be .* got \(\)"),
        ({"input_shape": (3, 0, 8)}, r"`input_shape` .* got \(3, 0, 8\)"),
        ({"input_shape": (3, 2.5)}, r"`input_shape` .* got \(3, 2.5\)"),
        (
            {"input_shape": (1, 8, 8), "convention": "flops"},
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
