"""One callback class for both Lightning distributions.

``pytorch_lightning`` and ``lightning.pytorch`` each have their own ``Callback`` class, and each
Trainer checks its own with ``isinstance``. nsearch's callbacks derive from both where both are
installed, so the same class works with either Trainer.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytorch_lightning

CALLBACK_BASES: tuple[type, ...] = (pytorch_lightning.Callback,)
MODULE_BASES: tuple[type, ...] = (pytorch_lightning.LightningModule,)
if importlib.util.find_spec("lightning") is not None:
    import lightning.pytorch

    CALLBACK_BASES += (lightning.pytorch.Callback,)
    MODULE_BASES += (lightning.pytorch.LightningModule,)


def overrides_hook(pl_module: Any, name: str) -> bool:
    """Whether ``pl_module`` has a hook ``name`` of its own (from its class or set on the instance),
    rather than the empty one that either distribution's ``LightningModule`` defines."""
    if name in vars(pl_module):
        return True
    hook = getattr(type(pl_module), name, None)
    return all(hook is not getattr(base, name, None) for base in MODULE_BASES)


def rank_zero_warn(message: str) -> None:
    from pytorch_lightning.utilities import rank_zero_warn as warn

    warn(message)
