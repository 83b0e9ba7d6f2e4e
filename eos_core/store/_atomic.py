"""The engine's one atomic file writer (the run store, projections and uploads use it).

A file is written to a ``.tmp-<name>.*`` file beside its target (same file system, so
``os.replace`` is atomic), locked with ``flock`` while written so that sweepers
(:func:`eos_core.store.sweep_temp_files`) never remove a live writer's file, flushed and
fsynced, then renamed over the target: a reader sees the old file or the complete new one, never a
half-written one, even after ``kill -9``.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ..errors import DiskFull, EOSError, StoreUnavailable

TMP_PREFIX = ".tmp-"
_log = logging.getLogger(__name__)


def disk_error(err: OSError, where: str | os.PathLike) -> EOSError | OSError:
    """The one-sentence error for an ``OSError`` while writing under ``where`` (or ``err`` itself)."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"The disk holding {where} is full; free some space and try again.")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoreUnavailable(f"{where} is not writable ({err.strerror}); choose another folder.")
    return err


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Write ``path`` atomically: yields a binary file; on success it replaces ``path`` whole.

    The one atomic writer of the engine: a temporary ``.tmp-<name>.*`` file beside ``path`` (same
    file system, so ``os.replace`` is atomic), locked (``flock``) while written, flushed and fsynced
    before the rename, removed on any error. A full disk raises :class:`DiskFull` with one sentence.
    """
    path = Path(path)
    try:
        # The name says which file was being written when a crash leaves it behind.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.name[:60]}.", suffix=path.suffix)
    except OSError as err:
        raise disk_error(err, path.parent) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            # Locked until renamed: a sweeper skips temp files that are locked, so it removes only
            # what a dead writer left (the kernel drops the lock when a process dies, even by kill -9).
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            os.replace(tmp, path)
    except OSError as err:
        _unlink(tmp)
        raise disk_error(err, path.parent) from None
    except BaseException:
        _unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` with :func:`atomic_write`."""
    with atomic_write(path) as fh:
        fh.write(data)


def _unlink(path: str | os.PathLike) -> None:
    """Remove a failed write's temp file; one that cannot be removed is left to the store's sweep."""
    try:
        os.unlink(path)
    except OSError as err:
        _log.debug("Temporary file %s left for the sweep: %s", path, err)
