"""The command line: ``python -m eos_core``."""

from ._main import main

__all__ = ["main"]
