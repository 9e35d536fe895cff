"""Running a Lightning fit inside a longer job (a search, a final training): quiet, and with
Ctrl-C as a KeyboardInterrupt.

nsearch's rule for Ctrl-C, the same everywhere: a process that starts with SIGINT ignored (a
background job of a shell script) ignores it throughout, as Python itself does; a process that
starts with Python's default handling gets a KeyboardInterrupt at any point, during a fit or
between them.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import warnings
from collections.abc import Iterator
from types import FrameType

__all__ = ["interrupts_as_keyboard_interrupt", "quiet_lightning"]


@contextlib.contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """Lightning answers Ctrl-C with a graceful shutdown, then ``exit(1)``; turn that back into the
    KeyboardInterrupt that Optuna and nsearch's callers expect.

    A SIGINT handler notes that Ctrl-C came, because by the time ``exit(1)`` arrives Lightning's
    teardown has restored whatever SIGINT handler it found, so the handler alone tells an
    interrupt from a genuine exit. Where SIGINT is ignored on entry, it stays ignored (no
    interrupt can come, and every exit is genuine). Off the main thread, where handlers cannot
    be set, Lightning's own sign, SIGINT left ignored, is the fallback.
    """
    interrupted = False
    previous = signal.getsignal(signal.SIGINT)
    ignored = previous is signal.SIG_IGN

    def note_interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True
        signal.default_int_handler(signum, frame)

    handle = threading.current_thread() is threading.main_thread() and not ignored
    if handle:
        signal.signal(signal.SIGINT, note_interrupt)
    try:
        yield
    except SystemExit as error:
        left_ignored = not handle and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        if ignored or not (interrupted or left_ignored):
            raise
        raise KeyboardInterrupt from error
    finally:
        if handle and previous is not None:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's per-fit banners and advice would bury a job's own progress."""
    names = ("pytorch_lightning", "lightning.pytorch", "lightning")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="pytorch_lightning")
            warnings.filterwarnings("ignore", module="lightning")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
