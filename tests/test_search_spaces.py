from __future__ import annotations

import dataclasses
import json
import math
import random
from dataclasses import dataclass

import optuna
import pytest
import torch
from optuna.distributions import FloatDistribution, IntDistribution
from torch import nn
from torchvision.models.mobilenetv2 import _make_divisible

import nsearch
from nsearch.search_spaces import (
    SearchSpace,
    distribution_values,
    get_space,
    list_spaces,
    mobilenet,
    mobilenet_uniform,
    register_space,
    resnet,
    resnet_uniform,
)

STAGEWISE = ["mobilenet", "resnet"]
UNIFORM = {"mobilenet-uniform": mobilenet_uniform, "resnet-uniform": resnet_uniform}
BASE_CHANNELS = {
    "mobilenet": [c for _, c, _, _ in mobilenet.INVERTED_RESIDUAL_SETTING],
    "resnet": list(resnet.STAGE_WIDTHS),
}
SHAPES = [(1, 28, 28), (3, 32, 32), (3, 224, 224)]


def random_configs(name: str, n: int, seed: int = 0) -> list:
    """``n`` configs of a space, each parameter drawn uniformly from its distribution."""
    space = get_space(name)
    rng = random.Random(seed)
    assert space.distributions is not None
    return [
        space.config_from_params(
            {k: rng.choice(distribution_values(d)) for k, d in space.distributions.items()}
        )
        for _ in range(n)
    ]


def sample_configs(name: str) -> list:
    space = get_space(name)
    return [space.largest, space.smallest, *random_configs(name, 2)]


# --- the registry -------------------------------------------------------------------------------


def test_registry_lists_the_spaces_sorted() -> None:
    assert list_spaces() == ["mobilenet", "mobilenet-uniform", "resnet", "resnet-uniform"]


def test_unknown_space_lists_the_known_ones() -> None:
    with pytest.raises(
        ValueError,
        match=r"Unknown search space 'vgg'; .* mobilenet, mobilenet-uniform, resnet, resnet-uniform\.",
    ):
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


def test_distribution_values() -> None:
    assert distribution_values(IntDistribution(1, 7, step=3)) == (1, 4, 7)
    assert distribution_values(FloatDistribution(0.25, 1.0, step=0.25)) == (0.25, 0.5, 0.75, 1.0)
    assert distribution_values(FloatDistribution(0.0, 1.0)) is None


# --- the stage-wise spaces: size, distinctness, sub-networks -------------------------------------


@pytest.mark.parametrize("name", STAGEWISE)
def test_size_is_counted_from_the_distributions_and_every_config_is_distinct(name: str) -> None:
    space = get_space(name)
    assert space.distributions is not None
    counts = [len(distribution_values(d) or ()) for d in space.distributions.values()]
    assert space.size() == math.prod(counts) >= 100_000
    # distinct: within each stage, different widths round to different channel counts and
    # different depths are different block counts, so the configs are distinct architectures
    module = mobilenet if name == "mobilenet" else resnet
    architectures = 1
    for base, widths, depths in zip(
        BASE_CHANNELS[name], module.WIDTH_CHOICES, module.DEPTH_CHOICES
    ):
        stage = {(_make_divisible(base * w, 8), d) for w in widths for d in depths}
        assert len(stage) == len(widths) * len(depths)
        architectures *= len(stage)
    assert architectures == space.size()
    assert {"mobilenet": 1_327_104, "resnet": 111_132}[name] == space.size()


@pytest.mark.parametrize("name", STAGEWISE)
def test_channels_and_blocks_of_a_build_follow_the_config(name: str) -> None:
    space = get_space(name)
    for config in random_configs(name, 4, seed=5):
        model = space.build(config, in_channels=1, num_classes=10, input_size=28)
        stages = model.features[1 : 1 + len(config.depths)]
        assert [len(stage) for stage in stages] == list(config.depths)
        outs = [stage[-1].out_channels if name == "mobilenet" else stage[-1].conv2.out_channels
                for stage in stages]  # fmt: skip
        assert outs == [
            _make_divisible(c * w, 8) for c, w in zip(BASE_CHANNELS[name], config.widths)
        ]


@pytest.mark.parametrize("name", STAGEWISE)
@pytest.mark.parametrize("size", [28, 224])
def test_every_config_is_a_prefix_of_the_largest_network(name: str, size: int) -> None:
    space = get_space(name)
    largest = space.build(space.largest, input_size=size).state_dict()
    for config in [space.smallest, *random_configs(name, 6, seed=size)]:
        for key, value in space.build(config, input_size=size).state_dict().items():
            assert key in largest and value.dim() == largest[key].dim(), key
            assert all(a <= b for a, b in zip(value.shape, largest[key].shape)), key


def test_shortcuts_depend_on_position_never_on_matching_widths() -> None:
    # mobilenet: row 4 at 0.75 (48 channels) feeds row 5 at 0.5 (48) with stride 1, where
    # torchvision would add a residual; resnet: stage 3 at 1.0 (128) feeds stage 4 at 0.5 (128)
    # with stride 1 on small inputs, where torchvision would drop the projection
    widths = (1.0, 1.0, 1.0, 0.75, 0.5, 1.0, 1.0)
    model = mobilenet.build(mobilenet.StagewiseMobileNetConfig(widths=widths), input_size=28)
    assert model.features[5][0].use_res_connect is False
    assert all(block.use_res_connect for block in model.features[5][1:])
    model = resnet.build(resnet.StagewiseResNetConfig(widths=(1.0, 1.0, 1.0, 0.5)), input_size=28)
    assert model.features[4][0].downsample is not None
    assert all(block.downsample is None for block in model.features[4][1:])
    large = resnet.build(resnet.StagewiseResNetConfig(), input_size=224)
    assert large.features[1][0].downsample is None  # stride 1, the stem is as wide as stage 1


@pytest.mark.parametrize("name", STAGEWISE)
def test_largest_and_smallest_bound_the_cost(name: str) -> None:
    space = get_space(name)
    costs = {}
    for label, config in (("largest", space.largest), ("smallest", space.smallest)):
        model = space.build(config, in_channels=1, num_classes=10, input_size=28)
        costs[label] = nsearch.count_complexity(model, (1, 28, 28))
    for config in random_configs(name, 3, seed=9):
        model = space.build(config, in_channels=1, num_classes=10, input_size=28)
        c = nsearch.count_complexity(model, (1, 28, 28))
        assert costs["smallest"].params <= c.params <= costs["largest"].params
        assert costs["smallest"].macs <= c.macs <= costs["largest"].macs
    # of the order of today's largest, and tiny at the other end (28x28x1, 10 classes)
    assert costs["largest"].params <= 4.5e6 and costs["largest"].macs <= 90e6
    assert costs["smallest"].params <= 0.1e6


@pytest.mark.parametrize("name", STAGEWISE)
def test_each_parameter_raises_the_cost(name: str) -> None:
    space = get_space(name)
    assert space.distributions is not None
    middle = {k: (values := distribution_values(d) or ())[len(values) // 2]
              for k, d in space.distributions.items()}  # fmt: skip
    for key, distribution in space.distributions.items():
        values = distribution_values(distribution) or ()
        costs = []
        for value in (values[0], values[-1]):
            model = space.build(space.config_from_params({**middle, key: value}),
                                in_channels=1, num_classes=10, input_size=28)  # fmt: skip
            costs.append(nsearch.count_complexity(model, (1, 28, 28)))
        assert costs[1].params > costs[0].params and costs[1].macs > costs[0].macs, key


# --- every space: building, suggesting, storing -------------------------------------------------


@pytest.mark.parametrize("name", STAGEWISE + list(UNIFORM))
@pytest.mark.parametrize("shape", SHAPES)
def test_a_sample_of_configs_builds_and_runs(name: str, shape: tuple[int, int, int]) -> None:
    space = get_space(name)
    configs = sample_configs(name) if name in STAGEWISE else [space.largest, space.smallest]
    for config in configs:
        torch.manual_seed(0)
        model = space.build(config, in_channels=shape[0], num_classes=10, input_size=shape[-1])
        x = torch.randn(2, *shape)
        if shape[-1] > 32:  # large inputs: a forward pass is enough
            with torch.no_grad():
                assert model(x).shape == (2, 10)
            continue
        out = model(x)
        assert out.shape == (2, 10)
        nn.functional.cross_entropy(out, torch.tensor([1, 2])).backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", STAGEWISE + list(UNIFORM))
def test_suggest_draws_exactly_the_distributions_and_params_round_trip(name: str) -> None:
    space = get_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(5):
        trial = study.ask()
        config = space.suggest(trial)
        assert trial.distributions == space.distributions
        assert trial.params == space.params_of(config)
        stored = json.loads(json.dumps(trial.params))  # how results store it
        assert space.config_from_params(stored) == config
        assert space.params_of(space.config_from_params(stored)) == trial.params
        study.tell(trial, 0.0)


@pytest.mark.parametrize("name", STAGEWISE)
def test_params_and_configs_are_exact_inverses(name: str) -> None:
    space = get_space(name)
    configs = random_configs(name, 50, seed=1)
    for config in configs:
        params = space.params_of(config)
        assert all(isinstance(v, (int, float)) for v in params.values())
        rebuilt = space.config_from_params(params)
        assert rebuilt == config and isinstance(rebuilt.widths, tuple)
        assert isinstance(rebuilt.depths, tuple)
    assert len({space.describe(c) for c in configs}) == len(set(configs))
    assert len(space.describe(space.largest)) < 60


def test_describe_is_one_short_line() -> None:
    assert get_space("mobilenet").describe(mobilenet.LARGEST) == "w 1/1/1/1/1/1/1 d 1/2/3/4/3/3/1"
    assert get_space("resnet").describe(resnet.SMALLEST) == "w 0.25/0.25/0.25/0.25 d 1/1/1/1"
    assert get_space("resnet-uniform").describe(resnet_uniform.ResNetConfig(0.25, 1.5)) == (
        "width 0.25 depth 1.5"
    )


def test_suggest_with_fixed_trial() -> None:
    params = {"w1": 0.5, "w2": 1.0, "d2": 2, "w3": 0.25, "d3": 1, "w4": 0.75, "d4": 4,
              "w5": 0.5, "d5": 3, "w6": 1.0, "d6": 2, "w7": 0.25}  # fmt: skip
    config = mobilenet.suggest(optuna.trial.FixedTrial(params))
    assert config == mobilenet.StagewiseMobileNetConfig(
        widths=(0.5, 1.0, 0.25, 0.75, 0.5, 1.0, 0.25), depths=(1, 2, 1, 4, 3, 2, 1)
    )
    trial = optuna.trial.FixedTrial({"width": 0.35, "depth": 0.75})
    assert mobilenet_uniform.suggest(trial) == mobilenet_uniform.MobileNetConfig(0.35, 0.75)
    trial = optuna.trial.FixedTrial({"width": 0.25, "depth": 1.5})
    assert resnet_uniform.suggest(trial) == resnet_uniform.ResNetConfig(width=0.25, depth=1.5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"widths": (0.25,) * 7}, r"`widths\[0\]` can be 0.5, 1, got 0.25"),
     ({"depths": (1, 2, 3, 5, 3, 3, 1)}, r"`depths\[3\]` can be 1, 2, 3, 4, got 5"),
     ({"widths": (1.0,) * 6}, "`widths` must hold 7 values, one per stage, got 6"),
     ({"depths": "1234567"}, "`depths` must be a sequence of 7 numbers, got '1234567'")],
)  # fmt: skip
def test_a_config_outside_the_space_is_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mobilenet.StagewiseMobileNetConfig(**kwargs)


def test_stored_parameters_are_checked() -> None:
    space = get_space("resnet")
    with pytest.raises(ValueError, match=r"has no parameters \['ratio'\]"):
        space.config_from_params({**space.params_of(space.largest), "ratio": 3})
    with pytest.raises(ValueError, match=r"needs the parameters \['d4'\], got only"):
        space.config_from_params({k: v for k, v in space.params_of(space.largest).items()
                                  if k != "d4"})  # fmt: skip
    with pytest.raises(ValueError, match=r"has no parameters \['ratio'\]"):
        get_space("mobilenet-uniform").config_from_params({"width": 0.5, "ratio": 3})
    with pytest.raises(TypeError, match="takes StagewiseResNetConfig configs, got ResNetConfig"):
        space.params_of(resnet_uniform.ResNetConfig())


def test_spaces_with_a_supernet() -> None:
    assert get_space("mobilenet").has_supernet and get_space("resnet").has_supernet
    assert not get_space("mobilenet-uniform").has_supernet


# --- the uniform baselines ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(UNIFORM))
@pytest.mark.parametrize("multiplier", ["width", "depth"])
def test_uniform_cost_grows_monotonically_with_each_multiplier(name: str, multiplier: str) -> None:
    space = get_space(name)
    module = UNIFORM[name]
    low, high = module.WIDTH_RANGE if multiplier == "width" else module.DEPTH_RANGE  # type: ignore[attr-defined]
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


@pytest.mark.parametrize("name", list(UNIFORM))
def test_uniform_depth_never_drops_a_stage(name: str) -> None:
    space = get_space(name)
    model = space.build(space.config_type(width=0.5, depth=0.01), input_size=32)
    stages = model.features[1:] if name == "resnet-uniform" else model.features
    assert all(len(list(stage.children())) >= 1 for stage in stages)


def test_the_largest_stagewise_networks_are_the_largest_uniform_ones() -> None:
    for stagewise, uniform in (("mobilenet", "mobilenet-uniform"), ("resnet", "resnet-uniform")):
        a, b = get_space(stagewise), get_space(uniform)
        ca = nsearch.count_complexity(a.build(a.largest, in_channels=1, num_classes=10,
                                              input_size=28), (1, 28, 28))  # fmt: skip
        cb = nsearch.count_complexity(b.build(b.largest, in_channels=1, num_classes=10,
                                              input_size=28), (1, 28, 28))  # fmt: skip
        assert (ca.params, ca.macs) == (cb.params, cb.macs)


def test_mobilenet_width_goes_through_torchvision_rounding() -> None:
    model = mobilenet_uniform.build(mobilenet_uniform.MobileNetConfig(0.35, 1.0), input_size=224)
    assert model.features[0][0].out_channels == 16  # _make_divisible(32 * 0.35, 8)
    assert model.features[0][0].stride == (2, 2)  # torchvision's stem for large inputs


@pytest.mark.parametrize("name", ["mobilenet", "mobilenet-uniform"])
def test_small_inputs_get_a_full_resolution_stem(name: str) -> None:
    space = get_space(name)
    model = space.build(space.largest, in_channels=1, input_size=28)
    assert model.features[0][0].stride == (1, 1) and model.features[0][0].in_channels == 1
    assert model.features(torch.zeros(1, 1, 28, 28)).shape[-1] == 4  # total stride 8


def test_resnet_uniform_bottleneck_block_and_bad_block() -> None:
    config = resnet_uniform.ResNetConfig(width=0.25, depth=0.5, block="bottleneck")
    model = resnet_uniform.build(config, input_size=32)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 1000)
    with pytest.raises(ValueError, match="`block` can be basic, bottleneck, got 'wide'"):
        resnet_uniform.ResNetConfig(block="wide")
    with pytest.raises(ValueError, match="searches basic blocks only, got block 'bottleneck'"):
        get_space("resnet-uniform").params_of(config)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_channels": 0}, r"`in_channels` must be an integer >= 1, got 0"),
        ({"num_classes": 1}, r"`num_classes` must be an integer >= 2, got 1"),
        ({"input_size": 4}, r"`input_size` must be an integer >= 8, got 4"),
    ],
)
@pytest.mark.parametrize("name", ["mobilenet", "resnet", "mobilenet-uniform"])
def test_bad_build_arguments(name: str, kwargs: dict, match: str) -> None:
    space = get_space(name)
    with pytest.raises(ValueError, match=match):
        space.build(space.smallest, **kwargs)


# --- spaces users register ----------------------------------------------------------------------


def test_a_user_space_registers_builds_and_gets_the_defaults() -> None:
    @dataclass(frozen=True)
    class MLPConfig:
        hidden: int = 32
        layers: tuple[int, ...] = (1, 2)

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
        assert space.params_of(config) == {"hidden": 16, "layers": (1, 2)}
        stored = json.loads(json.dumps(space.params_of(config)))  # the tuple comes back a list
        assert space.config_from_params(stored) == config
        assert space.config_from_params({"hidden": 16}) == config
        assert space.describe(config) == "hidden 16 layers (1, 2)"
        assert space.size() is None and not space.has_supernet and space.largest is None
    finally:
        from nsearch.search_spaces import _registry

        del _registry._SPACES["test-mlp"]
