"""Search spaces: each turns an Optuna trial into a frozen config, and a config into a model.

>>> from nsearch.search_spaces import get_space, list_spaces
>>> list_spaces()
['mobilenet', 'resnet']
>>> space = get_space("mobilenet")
>>> model = space.build(space.config_type(width=0.5, depth=0.5), in_channels=1, num_classes=10,
...                     input_size=28)
"""

from nsearch.search_spaces import mobilenet, resnet
from nsearch.search_spaces._registry import SearchSpace, get_space, list_spaces, register_space
from nsearch.search_spaces.mobilenet import MobileNet, MobileNetConfig
from nsearch.search_spaces.resnet import ResNet, ResNetConfig

__all__ = [
    "MobileNet",
    "MobileNetConfig",
    "ResNet",
    "ResNetConfig",
    "SearchSpace",
    "get_space",
    "list_spaces",
    "mobilenet",
    "register_space",
    "resnet",
]
