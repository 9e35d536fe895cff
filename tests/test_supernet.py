from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from optuna.distributions import CategoricalDistribution, IntDistribution
from torch import nn

from nsearch.data import ImageDataModule
from nsearch.search_spaces import SearchSpace, get_space
from nsearch.supernet import DynamicConv2d, Supernet, to_dynamic
from nsearch.training import (
    Hardware,
    SandwichModule,
    SupernetRecipe,
    evaluate_subnet,
    fold_batchnorm,
    train_supernet,
)
from nsearch.training.batchnorm import recalibrate_batchnorm


# A tiny space of its own: stem conv of 8 or 16 channels, one or two conv blocks, a classifier.
@dataclass(frozen=True)
class TinyConfig:
    width: int = 16
    depth: int = 2


def build_tiny(config: TinyConfig, *, in_channels: int, num_classes: int, input_size: int):
    def unit(a: int, b: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()
        )

    return nn.Sequential(
        unit(in_channels, config.width),
        nn.Sequential(*(unit(config.width, config.width) for _ in range(config.depth))),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(config.width, num_classes),
    )


TINY = SearchSpace(
    "test-tiny",
    TinyConfig,
    lambda t: TinyConfig(t.suggest_categorical("width", (8, 16)), t.suggest_int("depth", 1, 2)),
    build_tiny,
    smallest=TinyConfig(8, 1),
    largest=TinyConfig(16, 2),
    distributions={"width": CategoricalDistribution((8, 16)), "depth": IntDistribution(1, 2)},
    supernet_lr=0.1,
)
CPU = Hardware(accelerator="cpu")
BUILD = {"in_channels": 1, "num_classes": 10, "input_size": 28}


def randomise_batchnorm(module: nn.Module) -> None:
    """Give every batch norm statistics and affine weights far from their initial values."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                for t, low, high in ((m.running_mean, -0.5, 0.5), (m.running_var, 0.5, 2.0),
                                     (m.weight, 0.5, 1.5), (m.bias, -0.2, 0.2)):  # fmt: skip
                    t.copy_(torch.rand(t.shape, generator=g) * (high - low) + low)


def configs_of(supernet: Supernet, n_random: int) -> list:
    rng = random.Random(0)
    return [supernet.largest, supernet.smallest] + [supernet.sample(rng) for _ in range(n_random)]


@pytest.fixture(scope="module")
def tiny_data() -> ImageDataModule:
    data = ImageDataModule("embedded", batch_size=32, train_limit=320, val_fraction=0.05)
    data.setup()
    return data


@pytest.mark.parametrize(
    ("name", "shape", "n_random"),
    [("mobilenet", (1, 28, 28), 4), ("resnet", (1, 28, 28), 4),
     ("mobilenet", (3, 128, 128), 1), ("resnet", (3, 128, 128), 1)],
)  # fmt: skip
def test_extracted_subnet_is_the_space_build_and_computes_what_the_supernet_does(
    name: str, shape: tuple[int, int, int], n_random: int
) -> None:
    space = get_space(name)
    build = {"in_channels": shape[0], "num_classes": 10, "input_size": shape[-1]}
    torch.manual_seed(0)
    supernet = Supernet(space, **build)
    randomise_batchnorm(supernet)
    supernet.eval()
    x = torch.randn(2, *shape)
    for config in configs_of(supernet, n_random):
        model = supernet.extract(config)
        reference = space.build(config, **build)
        assert repr(model) == repr(reference)
        assert [(k, v.shape) for k, v in model.state_dict().items()] == [
            (k, v.shape) for k, v in reference.state_dict().items()
        ]
        assert not model.training
        supernet.set_active(config)
        with torch.no_grad():
            expected = supernet(x)
            torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)
            model.train()  # batch statistics (and dropout, from the same seed): the same too
            supernet.train()
            torch.manual_seed(1)
            trained = model(x)
            torch.manual_seed(1)
            torch.testing.assert_close(trained, supernet(x), rtol=1e-4, atol=1e-5)
            supernet.eval()
    assert expected.abs().max() > 0.01  # the comparison was not of zeros


def test_the_largest_config_runs_the_whole_supernet_with_the_largest_build_weights() -> None:
    space = get_space("resnet")
    torch.manual_seed(0)
    supernet = Supernet(get_space("resnet"), **BUILD)
    torch.manual_seed(0)
    reference = space.build(space.largest, **BUILD)
    assert list(supernet.state_dict()) == [f"net.{k}" for k in reference.state_dict()]
    for (k, v), w in zip(supernet.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(v, w), k


def test_extracted_model_is_independent_of_the_supernet() -> None:
    supernet = Supernet(TINY, **BUILD)
    model = supernet.extract(TINY.smallest)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert not torch.equal(next(model.parameters()), next(supernet.parameters())[:8])


def test_sample_is_seeded_and_covers_the_space() -> None:
    supernet = Supernet(TINY, **BUILD)
    draws = [supernet.sample(random.Random(s)) for s in range(40)]
    assert draws[:5] == [supernet.sample(random.Random(s)) for s in range(5)]
    assert set(draws) == {TinyConfig(w, d) for w in (8, 16) for d in (1, 2)}


def test_batchnorm_recalibration_changes_only_batchnorm_buffers(tiny_data) -> None:
    torch.manual_seed(0)
    supernet = Supernet(get_space("resnet"), **BUILD)
    randomise_batchnorm(supernet)
    config = supernet.sample(random.Random(3))
    supernet.set_active(config)
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    recalibrate_batchnorm(supernet, tiny_data.train_dataloader(), 2)
    after = supernet.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    buffers = {k for k, _ in supernet.named_buffers()}
    assert changed and changed <= buffers
    assert all(torch.equal(before[k], after[k]) for k, _ in supernet.named_parameters())
    # and scoring a sub-network leaves the supernet exactly as it was
    snapshot = {k: v.clone() for k, v in after.items()}
    evaluate_subnet(supernet, config, tiny_data, recalibration_batches=2)
    assert all(torch.equal(snapshot[k], v) for k, v in supernet.state_dict().items())


@pytest.mark.parametrize("name", ["mobilenet", "resnet"])
def test_evaluate_subnet_counts_the_split(tiny_data, name: str) -> None:
    torch.manual_seed(0)
    supernet = Supernet(get_space(name), **BUILD)
    randomise_batchnorm(supernet)
    config = supernet.sample(random.Random(2))
    exact = evaluate_subnet(supernet, config, tiny_data, recalibration_batches=2, fold=False,
                            batch_size=512, channels_last=False)  # fmt: skip
    model = supernet.extract(config)
    recalibrate_batchnorm(model, tiny_data.train_dataloader(), 2)
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x) for x, _ in tiny_data.val_dataloader()])
    labels = torch.cat([y for _, y in tiny_data.val_dataloader()])
    assert exact == (int((logits.argmax(1) == labels).sum()), tiny_data.val_images)
    correct, total = evaluate_subnet(supernet, config, tiny_data, recalibration_batches=2)
    top2 = logits.topk(2, 1).values
    near_ties = int((top2[:, 0] - top2[:, 1] < 1e-4).sum())  # folding, batching may flip these
    assert total == exact[1] and abs(correct - exact[0]) <= near_ties


def test_evaluate_subnet_refuses_bad_arguments(tiny_data) -> None:
    supernet = Supernet(TINY, **BUILD)
    with pytest.raises(ValueError, match="`split` can be train, val, test, got 'dev'"):
        evaluate_subnet(supernet, TINY.smallest, tiny_data, split="dev")
    with pytest.raises(ValueError, match="`recalibration_batches` must be an integer >= 0, got -1"):
        evaluate_subnet(supernet, TINY.smallest, tiny_data, recalibration_batches=-1)
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 1, got 0"):
        evaluate_subnet(supernet, TINY.smallest, tiny_data, batch_size=0)


def test_folding_batchnorm_keeps_the_outputs() -> None:
    torch.manual_seed(0)
    supernet = Supernet(get_space("mobilenet"), **BUILD)
    randomise_batchnorm(supernet)
    model = supernet.extract(supernet.smallest).eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        expected = model(x)
        folded = fold_batchnorm(model)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
        torch.testing.assert_close(folded(x), expected, rtol=1e-4, atol=1e-5)


def test_a_config_outside_the_supernet_is_refused() -> None:
    supernet = Supernet(TINY, **BUILD)
    with pytest.raises(ValueError, match=r"is not a sub-network of the 'test-tiny' supernet: "
                       r"its '0\.0\.weight' has shape \(32, 1, 3, 3\), beyond the supernet's "
                       r"\(16, 1, 3, 3\)"):  # fmt: skip
        supernet.set_active(TinyConfig(width=32, depth=2))
    with pytest.raises(ValueError, match=r"it has '1\.2\.0\.weight', which the supernet lacks"):
        supernet.extract(TinyConfig(width=8, depth=3))


def test_a_space_without_largest_or_distributions_has_no_supernet() -> None:
    bare = SearchSpace("bare", TinyConfig, lambda t: TinyConfig(), build_tiny)
    with pytest.raises(ValueError, match=r"The space 'bare' has no weight-sharing supernet"):
        Supernet(bare, **BUILD)


def test_to_dynamic_refuses_layers_it_cannot_slice() -> None:
    with pytest.raises(ValueError, match="got parameters in a LayerNorm"):
        to_dynamic(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)))
    with pytest.raises(ValueError, match="got groups=2 for 4 -> 4 channels"):
        DynamicConv2d(4, 4, 3, groups=2)


def test_a_tiny_supernet_trains_end_to_end_and_loads_its_checkpoint(
    tiny_data, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    supernet = Supernet(TINY, **BUILD)
    path = tmp_path / "supernet.pt"
    settings = {"epochs": 1, "progress": False, "hardware": CPU, "checkpoint": path,
                "recipe": SupernetRecipe(seed=1, recalibration_batches=2)}  # fmt: skip
    result = train_supernet(supernet, tiny_data, **settings)
    assert not result.from_checkpoint and result.steps == len(tiny_data.train_dataloader()) == 10
    (record,) = result.history
    assert record.val_acc_largest is not None and record.val_acc_smallest is not None
    assert record.val_acc_largest > 0.15  # chance is 0.1; 1,000 images: 5 standard errors above
    correct, total = evaluate_subnet(supernet, TINY.largest, tiny_data, recalibration_batches=2)
    assert correct / total == record.val_acc_largest  # the same images, the same statistics
    assert path.is_file() and not path.with_name("supernet.pt.partial.ckpt").exists()

    again = Supernet(TINY, **BUILD)
    loaded = train_supernet(again, tiny_data, **settings)
    assert loaded.from_checkpoint and loaded.history == result.history
    assert loaded.steps == result.steps
    for (k, v), w in zip(supernet.state_dict().items(), again.state_dict().values()):
        assert torch.equal(v, w), k
    with pytest.raises(ValueError, match=r"made with other settings \(seed 1 -> 2\)"):
        train_supernet(again, tiny_data, **{**settings, "recipe": SupernetRecipe(seed=2,
                                                                  recalibration_batches=2)})


@pytest.mark.parametrize("name", ["mobilenet", "resnet"])
def test_a_sub_network_trains_only_its_own_slice_of_the_weights(name: str) -> None:
    torch.manual_seed(0)
    supernet = Supernet(get_space(name), **BUILD)
    supernet.train()
    config = supernet.smallest
    supernet.set_active(config)
    nn.functional.cross_entropy(supernet(torch.randn(4, 1, 28, 28)), torch.arange(4)).backward()
    sub = supernet.extract(config).state_dict()
    grads = dict(supernet.named_parameters())
    for key, parameter in grads.items():
        inside = key[len("net.") :] in sub
        if not inside:
            assert parameter.grad is None, key  # a block the sub-network does not have
            continue
        shape = sub[key[len("net.") :]].shape
        mask = torch.zeros_like(parameter, dtype=torch.bool)
        mask[tuple(slice(0, n) for n in shape)] = True
        assert parameter.grad is not None and not parameter.grad[~mask].any(), key
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in grads.values())


def test_an_interrupted_run_resumes_at_its_last_finished_epoch(
    tiny_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tiny.pt"
    settings = {"epochs": 2, "progress": False, "hardware": CPU, "checkpoint": path,
                "recipe": SupernetRecipe(recalibration_batches=1)}  # fmt: skip

    def stop_in_second_epoch(self: SandwichModule) -> None:
        if self.current_epoch == 1:
            raise RuntimeError("power cut")

    torch.manual_seed(0)
    with monkeypatch.context() as patch:
        patch.setattr(SandwichModule, "on_train_epoch_start", stop_in_second_epoch, raising=False)
        with pytest.raises(RuntimeError, match="power cut"):
            train_supernet(Supernet(TINY, **BUILD), tiny_data, **settings)
    partial = tmp_path / "tiny.pt.partial.ckpt"
    assert partial.is_file() and not path.exists()
    resumed = train_supernet(Supernet(TINY, **BUILD), tiny_data, **settings)
    assert [r.epoch for r in resumed.history] == [0, 1]
    assert resumed.steps == 2 * len(tiny_data.train_dataloader())
    assert path.is_file() and not partial.exists()


def test_bad_epochs(tiny_data) -> None:
    with pytest.raises(ValueError, match="`epochs` must be an integer >= 1, got 0"):
        train_supernet(Supernet(TINY, **BUILD), tiny_data, epochs=0, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"num_random": -1}, "`num_random` must be an integer >= 0, got -1"),
     ({"warmup_fraction": 1.0}, r"`warmup_fraction` must be in \[0, 1\), got 1.0"),
     ({"lr": 0}, "`lr` must be a positive number or None, got 0"),
     ({"sampling": "ring"}, "`sampling` must be one of sandwich, uniform, got 'ring'"),
     ({"sampling": "uniform", "num_random": 0}, "needs `num_random` >= 1"),
     ({"grad_clip": 0.0}, "`grad_clip` must be a positive number or None, got 0.0")],
)  # fmt: skip
def test_bad_recipes(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SupernetRecipe(**kwargs)
