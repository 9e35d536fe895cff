from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n``), each test process gets its share of the cores as torch
    threads, and so do the processes a test starts (``OMP_NUM_THREADS``): two processes of two
    threads each on two cores would wait on each other."""
    processes = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if processes > 1:
        import torch

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        threads = max(1, (cores or 1) // processes)
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)


@pytest.fixture(autouse=True)
def sigint_as_it_was() -> Iterator[None]:
    """Each test starts with Ctrl-C live (Python's KeyboardInterrupt, as in a terminal, even
    where the suite was started in the background with SIGINT ignored) and leaves the handler
    as it found it, so that no test sees another's."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.fixture(params=["pytorch_lightning", "lightning"])
def distribution(request: pytest.FixtureRequest) -> str:
    """Each Lightning distribution in turn: ``pytorch_lightning`` and ``lightning.pytorch``."""
    return str(request.param)


@pytest.fixture(scope="session")
def searched(tmp_path_factory: pytest.TempPathFactory):
    """A finished two-trial search on the embedded data (each trial one short epoch); tests that
    only read its results share it and must not change it."""
    from search_helpers import QUICK

    from nsearch.search import SearchSettings, run_study

    out = tmp_path_factory.mktemp("searched")
    run_study(SearchSettings(**QUICK), out, progress=False)
    return out
