"""The ``folder`` dataset: a user's image folder, decoded once and cached as uint8 arrays.

Two layouts are accepted:

* ``<root>/train/<class>/*`` and ``<root>/test/<class>/*`` — used as given: the test set is kept
  untouched and the imbalance (see :mod:`eos_core.data._imbalance`) is applied to ``train/`` only;
* ``<root>/<class>/*`` — a fixed-seed per-class hold-out makes the test set.

Decoding thousands of files is the slow part (the 60,000 JPEGs of CIFAR-10 take ~3 s with the
fast JPEG path, far longer with Pillow alone), so the decoded arrays are cached in
:func:`array_cache_dir`, never in the data folder (which may be read-only or shared), keyed by the
folder's resolved path, the image size and a cheap fingerprint (file count, total bytes, newest
modification time): editing the folder invalidates the entry, and a stale entry for the same
folder is removed when the new one is written.

Messages name the folder as the caller gave it (the path the user typed) and an unpacked upload
as "the uploaded image set": never a server-side path nobody typed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import Cancelled, DatasetUnavailable
from ._cache import CACHE_MAX_BYTES, array_cache_dir, cache_entry, read_cache, write_cache
from ._imagedata import ImageData, dataset_display_name, is_upload_folder
from ._imagefiles import IMAGE_EXTENSIONS, MAX_IMAGES, PIXEL_CAP, ImageFileError, decode_image_files, decoding_warnings

_CHUNK = 256
HOLDOUT_TEST_SIZE = 0.2  # share of each class held out as the test set when there is no train/ + test/


@dataclass
class FolderLayout:
    """What an image folder holds, found without decoding any image.

    Attributes
    ----------
    root : Path
    split : {"given", "holdout"}
        ``"given"`` when the folder has ``train/`` and ``test/`` sub-folders.
    classes : list[str]
        Class folder names, sorted; label ``i`` is ``classes[i]``.
    train_files, test_files : list[str]
        Image files; ``test_files`` is empty for ``"holdout"`` (the split is made after decoding).
    train_labels, test_labels : np.ndarray, int64, shape (len(files),)
    n_files, total_bytes, newest_mtime_ns : int
        The cheap fingerprint: any added, removed, resized or touched file changes it.
    """

    root: Path
    split: str
    classes: list[str]
    train_files: list[str]
    train_labels: np.ndarray
    test_files: list[str]
    test_labels: np.ndarray
    n_files: int
    total_bytes: int
    newest_mtime_ns: int

    def fingerprint(self) -> str:
        """A short hash of the layout, the class names and the file statistics."""
        text = json.dumps([self.split, self.classes, self.n_files, self.total_bytes, self.newest_mtime_ns])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- scanning

def _visible(name: str) -> bool:
    return not name.startswith(".") and name != "__MACOSX"


def _class_dirs(folder: str) -> list[str]:
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if _visible(e.name) and e.is_dir())


@dataclass
class _Walk:
    """The running fingerprint of a scan, and its limits: a typed "~" or "/" stops early instead of
    walking a whole disk."""

    max_images: int
    n_files: int = 0
    total_bytes: int = 0
    newest_mtime_ns: int = 0
    entries: int = 0

    @property
    def max_entries(self) -> int:  # images plus room for other files and folders
        return 2 * self.max_images + 10_000


class _TooLarge(Exception):
    """Internal: the walk passed a limit (``kind`` "images" or "entries")."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _images_under(folder: str, walk: _Walk) -> list[str]:
    """Image files below ``folder`` (recursively, sorted); adds count, bytes, newest mtime to ``walk``.

    Plain strings and ``os.scandir``: pathlib objects for 60,000 files cost seconds.
    """
    files: list[str] = []
    st = os.stat(folder)
    walk.newest_mtime_ns = max(walk.newest_mtime_ns, st.st_mtime_ns)
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    walk.entries += len(entries)
    if walk.entries > walk.max_entries:
        raise _TooLarge("entries")
    for e in entries:
        if not _visible(e.name):
            continue
        if e.is_dir():
            files.extend(_images_under(e.path, walk))
        elif os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS:
            s = e.stat()
            walk.n_files += 1
            if walk.n_files > walk.max_images:
                raise _TooLarge("images")
            walk.total_bytes += s.st_size
            walk.newest_mtime_ns = max(walk.newest_mtime_ns, s.st_mtime_ns)
            files.append(e.path)
    return files


def _collect(folder: str, classes: list[str], stats: _Walk) -> tuple[list[str], np.ndarray, list[str]]:
    files: list[str] = []
    labels: list[int] = []
    empty: list[str] = []
    for i, c in enumerate(classes):
        sub = os.path.join(folder, c)
        found = _images_under(sub, stats) if os.path.isdir(sub) else []
        if not found:
            empty.append(c)
        files.extend(found)
        labels.extend([i] * len(found))
    return files, np.asarray(labels, np.int64), empty


def folder_subject(folder: str | os.PathLike) -> str:
    """How a message names an image folder: as given ("the image folder '~/cats'"), or "the
    uploaded image set" for an unpacked upload (a server-side path the user never typed)."""
    return "the uploaded image set" if is_upload_folder(folder) else f"the image folder {str(folder)[:200]!r}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def scan_image_folder(folder: str | os.PathLike, *, max_images: int = MAX_IMAGES) -> FolderLayout:
    """Find the classes and image files of a folder (no decoding); raises ``DatasetUnavailable``."""
    root = Path(folder).expanduser()
    who = folder_subject(folder)
    try:
        is_dir = root.is_dir()
    except (OSError, ValueError):  # e.g. a name too long for the file system, a NUL character
        is_dir = False
    if not is_dir:
        raise DatasetUnavailable(f"{_cap(who)} does not exist or is not a folder.")
    try:
        top = _class_dirs(str(root))
        stats = _Walk(max_images)
        if "train" in top and "test" in top:
            split = "given"
            tr_classes, te_classes = _class_dirs(str(root / "train")), _class_dirs(str(root / "test"))
            only_tr = [c for c in tr_classes if c not in te_classes]
            only_te = [c for c in te_classes if c not in tr_classes]
            if only_tr or only_te:
                where = (f"{_names(only_tr)} only in train/" if only_tr else "") + \
                    ("; " if only_tr and only_te else "") + (f"{_names(only_te)} only in test/" if only_te else "")
                raise DatasetUnavailable(
                    f"{_cap(who)} has train/ and test/ sub-folders with different classes ({where}); "
                    "give both the same class folders.")
            classes = tr_classes
            tr_files, tr_y, empty = _collect(str(root / "train"), classes, stats)
            te_files, te_y, empty_te = _collect(str(root / "test"), classes, stats)
            empty = [f"train/{c}" for c in empty] + [f"test/{c}" for c in empty_te]
        else:
            split = "holdout"
            classes = top
            tr_files, tr_y, empty = _collect(str(root), classes, stats)
            te_files, te_y = [], np.zeros(0, np.int64)
    except _TooLarge as err:
        if err.kind == "images":
            raise DatasetUnavailable(f"{_cap(who)} has more than {max_images:,} images; at most {max_images:,} are "
                                     "supported in memory.") from None
        raise DatasetUnavailable(f"{_cap(who)} holds more than {stats.max_entries:,} files and folders; name a "
                                 "folder of images (one sub-folder per class, or train/ and test/).") from None
    except PermissionError as err:
        inside = _relative(err.filename, root)
        raise DatasetUnavailable(f"{_cap(who)} cannot be read ({err.strerror}"
                                 + (f": {inside}" if inside else "") + ").") from None
    where = f"the train/ folder of {who}" if split == "given" else who
    if len(classes) < 2:
        raise DatasetUnavailable(
            f"{_cap(where)} has {len(classes)} class folder(s); it needs at least 2 sub-folders of images "
            f"({', '.join(IMAGE_EXTENSIONS)}), one per class.")
    if empty:
        raise DatasetUnavailable(f"Class folder(s) {_names(empty)} in {who} hold no image files "
                                 f"({', '.join(IMAGE_EXTENSIONS)}).")
    if split == "holdout":
        counts = np.bincount(tr_y, minlength=len(classes))
        if counts.min() < 2:
            small = [classes[i] for i in np.flatnonzero(counts < 2)]
            raise DatasetUnavailable(
                f"Class folder(s) {_names(small)} need at least 2 images (one for training, one for testing).")
    return FolderLayout(root, split, classes, tr_files, tr_y, te_files, te_y, stats.n_files, stats.total_bytes,
                        stats.newest_mtime_ns)


def _relative(path: str | None, root: Path) -> str | None:
    """``path`` relative to the folder (what the user can find in it); None outside it or unknown."""
    if not path:
        return None
    rel = os.path.relpath(path, root)
    return None if rel.startswith("..") else ("." if rel == "." else Path(rel).as_posix())


def _names(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(s) for s in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# --------------------------------------------------------------------------- loading

def load_image_folder(folder: str | os.PathLike, *, image_size: int = 32, test_size: float = HOLDOUT_TEST_SIZE,
                      max_images: int = MAX_IMAGES, max_pixels: int = PIXEL_CAP, cache: bool = True,
                      cache_dir: str | os.PathLike | None = None, cache_max_bytes: int = CACHE_MAX_BYTES,
                      workers: int | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      cancel: threading.Event | None = None) -> ImageData:
    """A user's image folder as an :class:`ImageData` (see the module docstring for the layouts).

    Images are resized (bilinear) to ``image_size`` squared; the set is grey-scale if every image
    is, else RGB. Unreadable files and images above ``max_pixels`` are errors, not skipped:
    dropping them would silently change the class counts (and, with ``test/``, the test set).

    Parameters
    ----------
    folder : path
    image_size : int
    test_size : float
        Share of each class held out as the test set when the folder has no ``train/``/``test/``.
    max_images : int
        More files than this is an error (everything is held in memory).
    max_pixels : int
        Per-image pixel cap, checked from the header before decoding (decompression bombs).
    cache : bool
        Read and write the decoded arrays in ``cache_dir`` (default :func:`array_cache_dir`), which
        holds at most ``cache_max_bytes`` (least recently used entries are removed first).
    workers : int, optional
        Decoding threads; default ``min(4, cpu count)``.
    progress : callable, optional
        ``progress(done, total)`` while decoding (only on a cache miss).
    cancel : threading.Event, optional
        Set to stop decoding with :class:`~eos_core.errors.Cancelled`.

    Returns
    -------
    ImageData
        ``x_*`` float32 (N, C, H, W) in [0, 1], ``C`` 1 or 3; ``display_name`` "<folder name> (folder)".
    """
    layout = scan_image_folder(folder, max_images=max_images)
    base = Path(cache_dir).expanduser() if cache_dir is not None else array_cache_dir()
    key = f"{layout.fingerprint()}|{test_size if layout.split == 'holdout' else ''}"
    entry = cache_entry(base, layout.root, image_size, key) if cache else None
    arrays = read_cache(entry, len(layout.train_files) + len(layout.test_files), len(layout.classes)) \
        if entry is not None else None
    if arrays is None:
        arrays = _decode_layout(layout, image_size, test_size, max_pixels, workers, progress, cancel)
        if entry is not None:
            write_cache(entry, arrays, cache_max_bytes)
    x_tr, y_tr, x_te, y_te = arrays
    return ImageData("folder", list(layout.classes), _to_float(x_tr), np.asarray(y_tr, np.int64), _to_float(x_te),
                     np.asarray(y_te, np.int64), display_name=dataset_display_name("folder", layout.root))


def _to_float(u8: np.ndarray) -> np.ndarray:
    return np.divide(u8, np.float32(255.0), dtype=np.float32)


def _decode_layout(layout: FolderLayout, size: int, test_size: float, max_pixels: int, workers: int | None,
                   progress: Callable[[int, int], None] | None,
                   cancel: threading.Event | None) -> tuple[np.ndarray, ...]:
    files = layout.train_files + layout.test_files
    n = len(files)
    pixels = np.empty((n, 3, size, size), np.uint8)
    gray = np.zeros(n, bool)
    failures: list[tuple[int, ImageFileError]] = []
    lock = threading.Lock()

    def work(start: int) -> None:
        if cancel is not None and cancel.is_set():
            return
        for i, img in enumerate(decode_image_files(files[start:start + _CHUNK], size, max_pixels=max_pixels), start):
            if isinstance(img, ImageFileError):
                with lock:
                    failures.append((i, img))
            else:
                pixels[i] = img.pixels
                gray[i] = img.gray

    n_workers = max(1, workers if workers is not None else min(4, os.cpu_count() or 1))
    done = 0
    with decoding_warnings(), ThreadPoolExecutor(n_workers) as pool:
        for fut in [pool.submit(work, s) for s in range(0, n, _CHUNK)]:
            fut.result()
            done = min(n, done + _CHUNK)
            if progress is not None:
                progress(done, n)
    if cancel is not None and cancel.is_set():
        raise Cancelled("Cancelled while decoding the image folder.")
    if failures:
        raise _failure_error(layout, files, sorted(failures, key=lambda f: f[0]))
    # Grey-scale only when every image is: one colour image makes the whole set RGB.
    arr = np.ascontiguousarray(pixels[:, :1]) if gray.all() else pixels
    n_tr = len(layout.train_files)
    if layout.split == "given":
        return arr[:n_tr], layout.train_labels, arr[n_tr:], layout.test_labels
    tr, te = holdout_per_class(layout.train_labels, test_size)
    return arr[tr], layout.train_labels[tr], arr[te], layout.train_labels[te]


def _failure_error(layout: FolderLayout, files: list[str],
                   failures: list[tuple[int, ImageFileError]]) -> DatasetUnavailable:
    bombs = [(i, e) for i, e in failures if e.kind == "bomb"]
    i, err = (bombs or failures)[0]
    rel = Path(os.path.relpath(files[i], layout.root)).as_posix()
    others = len(failures) - 1
    more = f" ({others} other file(s) fail too)" if others else ""
    if bombs:
        return DatasetUnavailable(
            f"{rel} is too large to load safely: {err.reason} (a possible decompression bomb){more}; "
            "shrink or remove it and try again.")
    return DatasetUnavailable(f"{rel} is not a readable image ({err.reason}){more}; fix or remove it and try again.")


def holdout_per_class(y: np.ndarray, test_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed split holding out ``test_size`` of every class, at least one image each.

    scikit-learn's stratified split refuses folders with many small classes (the test set must
    hold at least one sample per class); a per-class hold-out always works when each class has
    two images or more. Returns sorted row indices ``(train, test)``.
    """
    rng = np.random.default_rng(0)
    tr, te = [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        n_test = min(len(rows) - 1, max(1, int(round(test_size * len(rows)))))
        te.append(rows[:n_test])
        tr.append(rows[n_test:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(te))
