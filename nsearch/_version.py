"""nsearch's version, in one place (the package and run.json read it)."""

__version__ = "0.1.0"
