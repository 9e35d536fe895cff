from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import optuna
import pytest
import torch
from torch import nn

import nsearch
from nsearch.search_spaces import (
    SearchSpace,
    get_space,
    list_spaces,
    mobilenet,
    register_space,
    resnet,
)

RANGES = {"mobilenet": mobilenet, "resnet": resnet}
SHAPES = [(1, 28, 28), (3, 32, 32)]


def corners(name: str) -> list[dict[str, float]]:
    module = RANGES[name]
    return [
        {"width": w, "depth": d}
        for w in module.WIDTH_RANGE  # type: ignore[attr-defined]
        for d in module.DEPTH_RANGE  # type: ignore[attr-defined]
    ]


def test_registry_lists_both_spaces_sorted() -> None:
    assert list_spaces() == ["mobilenet", "resnet"]


def test_unknown_space_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown search space 'vgg'; .* mobilenet, resnet\."):
        get_space("vgg")


def test_registering_a_name_twice_raises() -> None:
    with pytest.raises(ValueError, match="'mobilenet' is already registered"):
        register_space(get_space("mobilenet"))


def test_config_type_must_be_a_frozen_dataclass() -> None:
    @dataclass
    class Loose:
        width: float = 1.0

    with pytest.raises(ValueError, match="must be a frozen dataclass"):
        register_space(SearchSpace("loose", Loose, lambda t: Loose(), lambda c, **k: nn.Identity()))


@pytest.mark.parametrize("name", ["mobilenet", "resnet"])
@pytest.mark.parametrize("shape", SHAPES)
def test_every_corner_builds_and_trains_a_step(name: str, shape: tuple[int, int, int]) -> None:
    space = get_space(name)
    for params in corners(name):
        torch.manual_seed(0)
        model = space.build(
            space.config_from_params(params),
            in_channels=shape[0],
            num_classes=10,
            input_size=shape[-1],
        )
        x = torch.randn(2, *shape)
        out = model(x)
        assert out.shape == (2, 10)
        nn.functional.cross_entropy(out, torch.tensor([1, 2])).backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", ["mobilenet", "resnet"])
@pytest.mark.parametrize("multiplier", ["width", "depth"])
def test_cost_grows_monotonically_with_each_multiplier(name: str, multiplier: str) -> None:
    space = get_space(name)
    low, high = RANGES[name].WIDTH_RANGE if multiplier == "width" else RANGES[name].DEPTH_RANGE  # type: ignore[attr-defined]
    steps = [low + (high - low) * i / 4 for i in range(5)]
    costs = []
    for value in steps:
        config = dataclasses.replace(space.config_type(width=0.5, depth=1.0), **{multiplier: value})
        model = space.build(config, in_channels=1, num_classes=10, input_size=28)
        c = nsearch.count_complexity(model, (1, 28, 28))
        costs.append((c.params, c.macs))
    for (p0, m0), (p1, m1) in zip(costs, costs[1:]):
        assert p1 >= p0 and m1 >= m0
    assert costs[-1][0] > costs[0][0] and costs[-1][1] > costs[0][1]


@pytest.mark.parametrize("name", ["mobilenet", "resnet"])
def test_depth_never_drops_a_stage(name: str) -> None:
    space = get_space(name)
    model = space.build(space.config_type(width=0.5, depth=0.01), input_size=32)
    stages = model.features[1:] if name == "resnet" else model.features
    assert all(len(list(stage.children())) >= 1 for stage in stages)


@pytest.mark.parametrize("name", ["mobilenet", "resnet"])
def test_suggest_gives_a_json_config_that_rebuilds_the_same_model(name: str) -> None:
    space = get_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    trial = study.ask()
    config = space.suggest(trial)
    assert json.loads(json.dumps(dataclasses.asdict(config))) == dataclasses.asdict(config)
    rebuilt = space.config_from_params(trial.params)
    assert rebuilt == config
    torch.manual_seed(1)
    a = space.build(config, in_channels=1, num_classes=10, input_size=28)
    torch.manual_seed(1)
    b = space.build(rebuilt, in_channels=1, num_classes=10, input_size=28)
    assert repr(a) == repr(b)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_suggest_with_fixed_trial() -> None:
    trial = optuna.trial.FixedTrial({"width": 0.35, "depth": 0.75})
    assert mobilenet.suggest(trial) == mobilenet.MobileNetConfig(width=0.35, depth=0.75)
    trial = optuna.trial.FixedTrial({"width": 0.25, "depth": 1.5})
    assert resnet.suggest(trial) == resnet.ResNetConfig(width=0.25, depth=1.5)


def test_mobilenet_width_goes_through_torchvision_rounding() -> None:
    model = mobilenet.build(mobilenet.MobileNetConfig(width=0.35, depth=1.0), input_size=224)
    assert model.features[0][0].out_channels == 16  # _make_divisible(32 * 0.35, 8)
    assert model.features[0][0].stride == (2, 2)  # torchvision's stem for large inputs


def test_small_inputs_get_a_full_resolution_stem() -> None:
    model = mobilenet.build(mobilenet.MobileNetConfig(), in_channels=1, input_size=28)
    assert model.features[0][0].stride == (1, 1) and model.features[0][0].in_channels == 1
    features = model.features(torch.zeros(1, 1, 28, 28))
    assert features.shape[-1] == 4  # total stride 8


def test_resnet_bottleneck_block_and_bad_block() -> None:
    model = resnet.build(
        resnet.ResNetConfig(width=0.25, depth=0.5, block="bottleneck"), input_size=32
    )
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 1000)
    with pytest.raises(ValueError, match="`block` can be basic, bottleneck, got 'wide'"):
        resnet.ResNetConfig(block="wide")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_channels": 0}, r"`in_channels` must be an integer >= 1, got 0"),
        ({"num_classes": 1}, r"`num_classes` must be an integer >= 2, got 1"),
        ({"input_size": 4}, r"`input_size` must be an integer >= 8, got 4"),
    ],
)
def test_bad_build_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mobilenet.build(mobilenet.MobileNetConfig(), **kwargs)


def test_unknown_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match=r"has no parameters \['ratio'\]"):
        get_space("mobilenet").config_from_params({"width": 0.5, "ratio": 3})


def test_a_user_space_registers_and_builds() -> None:
    @dataclass(frozen=True)
    class MLPConfig:
        hidden: int = 32

    def build(
        config: MLPConfig, *, in_channels: int, num_classes: int, input_size: int
    ) -> nn.Module:
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * input_size**2, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, num_classes),
        )

    space = register_space(
        SearchSpace(
            "test-mlp", MLPConfig, lambda t: MLPConfig(t.suggest_int("hidden", 8, 64)), build
        )
    )
    try:
        assert "test-mlp" in list_spaces()
        config = space.suggest(optuna.trial.FixedTrial({"hidden": 16}))
        model = space.build(config, in_channels=1, num_classes=10, input_size=28)
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    finally:
        from nsearch.search_spaces import _registry

        del _registry._SPACES["test-mlp"]
