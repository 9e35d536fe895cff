"""Weight-sharing supernets: train a space's largest network once, score its sub-networks.

A supernet holds a space's largest network; a sub-network runs with the first channels of each
layer (width) and the first blocks of each stage (depth). :func:`train_supernet` trains it with
the sandwich rule (largest, smallest and a few random sub-networks every step) and in-place
distillation from the largest; :func:`evaluate_subnet` re-estimates a sub-network's batch-norm
statistics on training batches and counts its correct predictions.

Example::

    from nsearch.data import ImageDataModule
    from nsearch.search_spaces import get_space
    from nsearch.supernet import evaluate_subnet, train_supernet

    data = ImageDataModule("embedded")
    data.setup()
    space = get_space("mobilenet")
    supernet = space.supernet(in_channels=1, num_classes=10, input_size=28)
    train_supernet(supernet, data, epochs=10, checkpoint="out/supernet.pt")
    correct, total = evaluate_subnet(supernet, space.smallest, data)
"""

from nsearch.supernet._dynamic import (
    DynamicBatchNorm2d,
    DynamicConv2d,
    DynamicLinear,
    DynamicSequential,
    to_dynamic,
)
from nsearch.supernet._evaluate import evaluate_subnet, fold_batchnorm, prepare_subnet
from nsearch.supernet._sandwich import SandwichModule
from nsearch.supernet._supernet import MobileNetSupernet, ResNetSupernet, Supernet
from nsearch.supernet._train import EpochRecord, SupernetTraining, train_supernet

__all__ = [
    "DynamicBatchNorm2d",
    "DynamicConv2d",
    "DynamicLinear",
    "DynamicSequential",
    "EpochRecord",
    "MobileNetSupernet",
    "ResNetSupernet",
    "SandwichModule",
    "Supernet",
    "SupernetTraining",
    "evaluate_subnet",
    "fold_batchnorm",
    "to_dynamic",
    "prepare_subnet",
    "train_supernet",
]
