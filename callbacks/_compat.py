"""One callback class for both Lightning distributions.

``pytorch_lightning`` and ``lightning.pytorch`` each have their own ``Callback`` class, and each
Trainer checks its own with ``isinstance``. nsearch's callbacks derive from both where both are
installed, so the same class works with either Trainer.
"""

from __future__ import annotations

import importlib.util

import pytorch_lightning

CALLBACK_BASES: tuple[type, ...] = (pytorch_lightning.Callback,)
if importlib.util.find_spec("lightning") is not None:
    import lightning.pytorch

    CALLBACK_BASES += (lightning.pytorch.Callback,)


def rank_zero_warn(message: str) -> None:
    from pytorch_lightning.utilities import rank_zero_warn as warn

    warn(message)
