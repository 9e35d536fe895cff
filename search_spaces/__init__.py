"""Search spaces: each turns an Optuna trial into a frozen config, and a config into a model.

``mobilenet`` and ``resnet`` give each stage its own width and depth; ``mobilenet-uniform`` and
``resnet-uniform`` scale every stage by the same two multipliers (the hand-scaling baseline).

>>> from nsearch.search_spaces import get_space, list_spaces
>>> list_spaces()
['mobilenet', 'mobilenet-uniform', 'resnet', 'resnet-uniform']
>>> space = get_space("mobilenet")
>>> space.size()
1327104
>>> config = space.config_from_params({"w1": 0.5, "w2": 0.5, "d2": 1, "w3": 0.5, "d3": 2,
...     "w4": 0.5, "d4": 2, "w5": 0.5, "d5": 2, "w6": 0.5, "d6": 2, "w7": 0.5})
>>> space.describe(config)
'w 0.5/0.5/0.5/0.5/0.5/0.5/0.5 d 1/1/2/2/2/2/1'
>>> model = space.build(config, in_channels=1, num_classes=10, input_size=28)
"""

from nsearch.search_spaces import mobilenet, mobilenet_uniform, resnet, resnet_uniform
from nsearch.search_spaces._registry import (
    SearchSpace,
    distribution_values,
    get_space,
    list_spaces,
    register_space,
)
from nsearch.search_spaces.mobilenet import StagewiseMobileNet, StagewiseMobileNetConfig
from nsearch.search_spaces.mobilenet_uniform import MobileNet, MobileNetConfig
from nsearch.search_spaces.resnet import StagewiseResNet, StagewiseResNetConfig
from nsearch.search_spaces.resnet_uniform import ResNet, ResNetConfig

__all__ = [
    "MobileNet",
    "MobileNetConfig",
    "ResNet",
    "ResNetConfig",
    "SearchSpace",
    "StagewiseMobileNet",
    "StagewiseMobileNetConfig",
    "StagewiseResNet",
    "StagewiseResNetConfig",
    "distribution_values",
    "get_space",
    "list_spaces",
    "mobilenet",
    "mobilenet_uniform",
    "register_space",
    "resnet",
    "resnet_uniform",
]
