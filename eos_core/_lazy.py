"""Package exports that load on first use.

Importing ``eos_core`` or one of its packages must stay cheap: the app imports the engine at start-up,
and torch, faiss, imbalanced-learn and umap-learn take seconds to load. So each package names its
public objects in a table (private module -> names) and this helper gives the package a module-level
``__getattr__`` (PEP 562) that imports the owning module the first time a name is asked for.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, tuple[str, ...]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``, whose ``exports`` maps module -> names.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : Mapping[str, tuple[str, ...]]
        Private module name (relative to the package, e.g. ``"_store"``) -> the public names it owns.
        A name may be owned by one module only.
    """
    owner: dict[str, str] = {}
    for module, names in exports.items():
        for name in names:
            if name in owner:
                raise ImportError(f"{package}: {name!r} is exported by both {owner[name]} and {module}")
            owner[name] = module

    def __getattr__(name: str) -> Any:
        if name not in owner:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{owner[name]}"), name)
        sys.modules[package].__dict__[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(sys.modules[package].__dict__) | set(owner))

    return __getattr__, __dir__, sorted(owner)
