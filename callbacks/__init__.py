"""Lightning callbacks that work with ``pytorch_lightning`` and ``lightning.pytorch`` Trainers."""

from nsearch.callbacks.netscore import NetScoreCallback
from nsearch.callbacks.pruning import OptunaPruning

__all__ = ["NetScoreCallback", "OptunaPruning"]
