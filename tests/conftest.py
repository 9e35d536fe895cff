from __future__ import annotations

import pytest


@pytest.fixture(params=["pytorch_lightning", "lightning"])
def distribution(request: pytest.FixtureRequest) -> str:
    """Each Lightning distribution in turn: ``pytorch_lightning`` and ``lightning.pytorch``."""
    return str(request.param)
