"""The decoded-array cache of image folders: one folder of ``.npy`` files per image folder and size.

Entries live in :func:`array_cache_dir` (``$EOS_CACHE_DIR`` or ``~/.cache/eos-explorer/cache``),
never in the data folder, which may be read-only or shared. An entry's name is
``folder-<hash of the resolved path>-<size>px-<hash of the fingerprint>``: a changed folder gets a
new entry and its stale one is removed; the whole cache keeps to a byte budget, least recently used
entries first. Entries are written atomically (a temporary folder renamed into place) and read
memory-mapped; an entry that cannot be read or does not match is ignored (and rewritten).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CACHE_VERSION = 1
# Decoded folders kept at most (least recently used evicted first): uploads are new folders each
# time, so without a budget the cache would grow with every upload (CIFAR-10 at 32 px: 177 MB).
CACHE_MAX_BYTES = 4 * 1024**3
ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def array_cache_dir() -> Path:
    """Where decoded folders are cached: ``$EOS_CACHE_DIR`` or ``~/.cache/eos-explorer/cache``."""
    env = os.environ.get("EOS_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "eos-explorer" / "cache"


@dataclass(frozen=True)
class CacheEntry:
    """Where one decoded folder is (or will be) cached."""

    base: Path      # the cache folder
    prefix: str     # "folder-<path hash>-<size>px-": every entry of this folder and size starts so
    name: str       # prefix + key hash

    @property
    def path(self) -> Path:
        return self.base / self.name


def cache_entry(base: Path, root: Path, size: int, key: str) -> CacheEntry:
    """The entry of image folder ``root`` at ``size`` px; ``key`` holds everything else it depends on."""
    where = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:12]
    prefix = f"folder-{where}-{size}px-"
    return CacheEntry(base, prefix, prefix + hashlib.sha256(f"{key}|{CACHE_VERSION}".encode()).hexdigest()[:12])


def read_cache(entry: CacheEntry, n_images: int, n_classes: int) -> tuple[np.ndarray, ...] | None:
    """The cached ``(x_train, y_train, x_test, y_test)`` (memory-mapped), or None when absent or not matching."""
    try:
        arrays = tuple(np.load(entry.path / f"{a}.npy", mmap_mode="r") for a in ARRAYS)
    except (OSError, ValueError):
        return None
    x_tr, y_tr, x_te, y_te = arrays
    ok = (x_tr.dtype == np.uint8 and x_te.dtype == np.uint8 and len(x_tr) == len(y_tr) and len(x_te) == len(y_te)
          and len(x_tr) + len(x_te) == n_images and (len(y_tr) == 0 or int(y_tr.max()) < n_classes))
    if ok:
        with contextlib.suppress(OSError):
            os.utime(entry.path)  # recently used: evicted last
    return arrays if ok else None


def write_cache(entry: CacheEntry, arrays: tuple[np.ndarray, ...], max_bytes: int = CACHE_MAX_BYTES) -> None:
    """Write atomically, drop stale entries of the same folder, keep to the budget.

    A failure (read-only or full disk) only costs the cache: it is reported as a warning.
    """
    tmp = entry.base / f".tmp-{entry.name}-{secrets.token_hex(4)}"
    try:
        tmp.mkdir(parents=True)
        for a, arr in zip(ARRAYS, arrays, strict=True):
            np.save(tmp / f"{a}.npy", np.ascontiguousarray(arr))
        try:
            os.rename(tmp, entry.path)
        except OSError:
            if not entry.path.is_dir():  # another process may have written the same entry first
                raise
        for old in entry.base.glob(entry.prefix + "*"):
            if old.name != entry.name:  # an older fingerprint of the same folder: stale
                shutil.rmtree(old, ignore_errors=True)
        _evict(entry, max_bytes)
    except OSError as err:
        warnings.warn(f"The decoded images could not be cached in {entry.base} ({err.strerror or err}); "
                      "set EOS_CACHE_DIR to a writable folder to load faster next time.", stacklevel=3)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _evict(entry: CacheEntry, max_bytes: int) -> None:
    """Remove the least recently used entries (never ``entry``) until the cache fits ``max_bytes``."""
    sized = []
    for d in entry.base.glob("folder-*"):
        with contextlib.suppress(OSError):
            sized.append((d.stat().st_mtime_ns, sum(f.stat().st_size for f in d.iterdir()), d))
    total = sum(size for _, size, _ in sized)
    for _, size, d in sorted(sized, key=lambda t: t[0]):
        if total <= max_bytes:
            break
        if d.name != entry.name:
            shutil.rmtree(d, ignore_errors=True)
            total -= size
