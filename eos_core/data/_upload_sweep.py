"""Finished-upload markers and the sweep of abandoned upload folders (see :mod:`eos_core.data._uploads`).

Each finished ingest ``zip-<hash>/`` has a marker ``zip-<hash>.json`` beside it (its classes and
creation time); re-uploading the same archive touches the marker, so its age is the time since the
upload was last used.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from ..store._atomic import TMP_PREFIX

_log = logging.getLogger(__name__)
MARKER_SUFFIX = ".json"               # zip-<hash>.json beside zip-<hash>/: a finished ingest (classes)


def marker_path(folder: Path) -> Path:
    """The marker of a finished upload folder: beside it, so the dataset folder holds classes only."""
    return folder.with_name(folder.name + MARKER_SUFFIX)


def read_marker(folder: Path) -> list[str] | None:
    """The classes a finished upload folder's marker lists; None when there is no readable marker."""
    try:
        classes = json.loads(marker_path(folder).read_text())["classes"]
        return [str(c) for c in classes] if isinstance(classes, list) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def sweep_uploads(root: str | os.PathLike, max_age_s: float = 24 * 3600, *, keep: Iterable[str] = (),
                  tmp_age_s: float = 3600) -> list[str]:
    """Remove abandoned upload folders under ``root``; returns the removed paths.

    Removed: unfinished ingests (``.tmp-*``) older than ``tmp_age_s``, and finished upload folders
    not used for ``max_age_s`` (re-uploading touches them) unless listed in ``keep`` (the folders
    saved runs were trained on).
    """
    root = Path(root)
    keep_set = {str(Path(k).resolve()) for k in keep if k}
    now, removed = time.time(), []
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:  # nothing was ever uploaded
        return []
    except OSError as err:
        _log.warning("The uploads folder %s cannot be swept (%s).", root, err)
        return []
    for e in entries:
        path = Path(e.path)
        try:
            if e.is_file(follow_symlinks=False) and e.name.endswith(MARKER_SUFFIX):
                if not path.with_name(e.name[: -len(MARKER_SUFFIX)]).is_dir():  # its folder is gone
                    path.unlink()
                    removed.append(str(path))
                continue
            if not e.is_dir(follow_symlinks=False):
                continue
            if e.name.startswith(TMP_PREFIX):
                stale = now - e.stat(follow_symlinks=False).st_mtime > tmp_age_s
            else:  # a finished upload (or one from before markers existed)
                marker = marker_path(path)
                age_from = marker.stat().st_mtime if marker.exists() else e.stat(follow_symlinks=False).st_mtime
                stale = now - age_from > max_age_s and str(path.resolve()) not in keep_set
            if stale:
                shutil.rmtree(path, ignore_errors=True)
                marker_path(path).unlink(missing_ok=True)
                removed.append(str(path))
        except OSError as err:  # e.g. removed by another session's sweep since the listing
            _log.debug("Upload entry %s left in place: %s", path, err)
            continue
    return removed
