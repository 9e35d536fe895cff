"""Weight-sharing supernets: a space's largest network, run as any of its sub-networks.

A supernet holds a space's largest network; a sub-network runs with the first channels of each
layer (width) and the first blocks of each stage (depth), and :meth:`Supernet.extract` gives it
as the standalone network ``space.build(config)`` with sliced weights. Training it and scoring
its sub-networks live in :mod:`nsearch.training` (:func:`~nsearch.training.train_supernet`,
:func:`~nsearch.training.evaluate_subnet`).

Example::

    from nsearch.data import ImageDataModule
    from nsearch.search_spaces import get_space
    from nsearch.supernet import Supernet
    from nsearch.training import evaluate_subnet, train_supernet

    data = ImageDataModule("embedded")
    data.setup()
    space = get_space("mobilenet")
    supernet = Supernet(space, in_channels=1, num_classes=10, input_size=28)
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
from nsearch.supernet._supernet import Supernet

__all__ = [
    "DynamicBatchNorm2d",
    "DynamicConv2d",
    "DynamicLinear",
    "DynamicSequential",
    "Supernet",
    "to_dynamic",
]
