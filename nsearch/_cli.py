"""What nsearch's command-line tools share: one-line errors with exit status 2."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["Parser", "argparse_type"]


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``NAME: error: ...``, and exit status 2."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.name}: error: {message}\n")


def argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A parser that raises ValueError, as an argparse type (its message becomes the error)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = parse.__name__
    return convert
