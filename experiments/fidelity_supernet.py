"""The supernet as an estimator of the fidelity study: trained and scored as ``--strategy
supernet`` does (its default epochs, recipe and data, a validation subsample of
:data:`~nsearch.search.supernet.SCORING_IMAGES` images after re-estimating batch-norm statistics
on :data:`~nsearch.search.supernet.RECALIBRATION_BATCHES` batches)."""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from nsearch.search import SearchSettings, make_candidates
from nsearch.search.supernet import RECALIBRATION_BATCHES, SCORING_IMAGES
from nsearch.search_spaces import get_space
from nsearch.supernet import Supernet
from nsearch.training import SubnetScorer, SupernetRecipe, quiet_lightning, train_supernet


def score_supernet(args: argparse.Namespace, nets: list[dict[str, Any]],
                   space_name: str) -> dict[str, Any]:  # fmt: skip
    """Each network's supernet score (validation accuracy and loss of its sub-network), None
    for networks that are not sub-networks of the space (the uniform family's off-grid widths)."""
    settings = SearchSettings(space=space_name, data=args.data, data_dir=args.data_dir,
                              strategy="supernet", epochs=args.supernet_epochs, timeout=None,
                              seed=args.seeds[0])  # fmt: skip
    candidates = make_candidates(settings, args.out / "fidelity_supernet_work")
    space = get_space(space_name)
    torch.manual_seed(settings.seed)
    c, _, size = candidates.input_shape
    supernet = Supernet(space, in_channels=c, num_classes=candidates.num_classes,
                        input_size=size)  # fmt: skip
    start = time.perf_counter()
    with quiet_lightning():
        train_supernet(supernet, candidates.data, epochs=settings.epochs,
                       recipe=SupernetRecipe(seed=settings.seed), progress=False)  # fmt: skip
    seconds = time.perf_counter() - start
    supernet = supernet.cpu().eval()
    scorer = SubnetScorer(supernet, candidates.data, recalibration_batches=RECALIBRATION_BATCHES,
                          images=min(SCORING_IMAGES, candidates.val_images),
                          seed=settings.seed)  # fmt: skip
    scores: list[dict[str, float] | None] = []
    for net in nets:
        if net["space"] != space_name:
            scores.append(None)
            continue
        result = scorer(space.config_from_params(net["architecture"]))
        scores.append({"accuracy": result.accuracy, "loss": result.loss})
    return {"scores": scores, "seconds": round(seconds, 2), "train_limit": settings.train_limit}
