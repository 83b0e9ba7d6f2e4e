"""``python -m eos_core`` — see :mod:`eos_core.cli`."""

import sys

from .cli._main import main

if __name__ == "__main__":
    sys.exit(main())
