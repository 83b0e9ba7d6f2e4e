"""Bounded ingestion of an uploaded image-folder ``.zip``.

Two layouts are accepted, with or without one wrapping folder and with or without folder entries
(``zip -r`` writes them, ``zip -D`` does not): ``class/*`` (the folder loader holds out a test
set) and ``train/class/*`` + ``test/class/*`` (kept as given, as the folder loader does).

An upload is untrusted: :func:`ingest_zip` never believes the sizes an archive declares. It checks
the archive size and entry count before parsing the member list, refuses an archive whose declared
image sizes exceed the budgets before writing anything, then streams each image member in chunks
and stops as soon as the bytes written pass what the member declared or the total budget (a zip
bomb that lies about its sizes stops there; memory stays at one chunk). It refuses encrypted,
damaged (bad CRC), unsupported or unsafe members with one sentence, reads each image's header to
cap its pixels, and writes only images, under sanitised unique class names and generated file
names. The folder is named by the archive's SHA-256, so uploading the same zip again reuses it; a
failed ingest removes what it wrote, and :func:`sweep_uploads` removes abandoned folders. No
message names a server-side path.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import stat
import struct
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from ..errors import UploadRejected
from ..store._atomic import TMP_PREFIX, atomic_write_bytes
from ._imagedata import upload_folder_name
from ._imagefiles import IMAGE_EXTENSIONS, MAX_IMAGES
from ._upload_sweep import MARKER_SUFFIX, marker_path, read_marker, sweep_uploads

__all__ = ["MARKER_SUFFIX", "ingest_zip", "marker_path", "max_entries", "sweep_uploads", "unique_class_names"]

MAX_ZIP_BYTES = 200 * 1024**2        # the archive; .streamlit/config.toml maxUploadSize matches (MB)
MAX_BYTES = 1024**3                   # total unpacked image bytes written to disk
MAX_PIXELS = 4096 * 4096              # per image (images are resized to 32x32 anyway)
# One member: a 4096x4096 RGBA image stored uncompressed (the pixel cap's largest honest file).
# A bomb member stops here at the latest, so a lying archive writes at most this before it fails.
MAX_MEMBER_BYTES = 4 * MAX_PIXELS
SPLITS = ("train", "test")            # a zip with both is used as given
CHUNK = 1 << 20
_CD_BYTES_PER_MEMBER = 512            # central-directory bytes allowed per member (names are short)
_SUPPORTED = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _mb(n: int) -> str:
    return f"{n / 1024**2:.0f} MB"


def unique_class_names(names: Iterable[str]) -> dict[str, str]:
    """Map each class-folder name to a safe, unique folder name (``[A-Za-z0-9_.-]``, <= 60 chars).

    Names that are already safe keep their name; the others get the safe form, with ``_2``,
    ``_3``, ... appended until it is unused (compared case-insensitively, for case-insensitive
    file systems). ``a``, ``a_2``, ``a~`` become ``a``, ``a_2``, ``a_3``: never fewer classes.
    """
    names = sorted(set(names))
    safe = {n: _SAFE.sub("_", n).strip("._-")[:60] or "class" for n in names}
    out: dict[str, str] = {}
    used: set[str] = set()
    for n in names:  # first pass: names already safe are kept as they are
        if safe[n] == n and n.casefold() not in used:
            out[n] = n
            used.add(n.casefold())
    for n in names:
        if n in out:
            continue
        cand, k = safe[n], 2
        while cand.casefold() in used:
            cand, k = f"{safe[n][:55]}_{k}", k + 1
        out[n] = cand
        used.add(cand.casefold())
    return out


def _member_parts(info: zipfile.ZipInfo) -> list[str] | None:
    """The path parts of a member; None for macOS / hidden entries; UploadRejected when unsafe."""
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise UploadRejected(f"The archive member {name[:80]!r} has an absolute (unsafe) path; re-create the zip "
                             "from the dataset folder.")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UploadRejected(f"The archive member {name[:80]!r} points outside the archive (unsafe '..' path).")
    if not parts or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
        return None
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UploadRejected(f"The archive member {name[:80]!r} is a symbolic link; only plain image files are "
                             "accepted.")
    return parts


def max_entries(max_images: int) -> int:
    """Entries the member list may hold for ``max_images`` images: folder entries and a few other
    files come on top (``zip -r`` of CIFAR-10 has 60,000 images and 23 folders)."""
    return max_images + max(1000, max_images // 4)


def _too_many_entries(entries: int, max_images: int) -> UploadRejected:
    return UploadRejected(f"The archive lists {entries:,} entries, more than {max_images:,} images and their "
                          f"folders need; at most {max_images:,} images are supported.")


def _check_central_directory(fh: BinaryIO, max_images: int) -> None:
    """Refuse an archive whose member list is too long before ``zipfile`` parses all of it."""
    try:
        end = zipfile._EndRecData(fh)  # the stdlib's own reader of the end record (handles zip64)
    except (OSError, ValueError, struct.error):
        end = None
    if end is None:
        raise UploadRejected("The upload is not a .zip archive; zip a folder that has one sub-folder of images "
                             "per class.")
    entries, cd_size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    limit = max_entries(max_images)
    if entries > limit or cd_size > max(65536, limit * _CD_BYTES_PER_MEMBER):
        raise _too_many_entries(entries, max_images)


def _images(zf: zipfile.ZipFile, max_images: int) -> list[tuple[list[str], zipfile.ZipInfo]]:
    """The image members and their path parts (hidden and non-image files skipped)."""
    infos = zf.infolist()
    if len(infos) > max_entries(max_images):  # the end record may lie about the count
        raise _too_many_entries(len(infos), max_images)
    images = []
    for info in infos:
        if info.is_dir():
            continue
        parts = _member_parts(info)
        if parts is None or Path(parts[-1]).suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        if info.flag_bits & 0x1:
            raise UploadRejected(f"The archive member {info.filename[:80]!r} is encrypted; upload a zip without a "
                                 "password.")
        if info.compress_type not in _SUPPORTED:
            raise UploadRejected(f"The archive member {info.filename[:80]!r} uses an unsupported compression "
                                 f"method ({info.compress_type}); use a standard (deflate) zip.")
        images.append((parts, info))
    if not images:
        raise UploadRejected("The archive has no image files (" + ", ".join(IMAGE_EXTENSIONS) + ").")
    if len(images) > max_images:
        raise UploadRejected(f"The archive has {len(images):,} images; at most {max_images:,} are supported.")
    return images


def _layout(images: list[tuple[list[str], zipfile.ZipInfo]]) -> list[tuple[str | None, str, zipfile.ZipInfo]]:
    """``(split, class, member)`` per image: split is "train"/"test" for a train/test zip, else None.

    One wrapping folder ("my_set/cat/1.png", "cifar10-jpeg/train/cat/1.png") is stripped when every
    image sits below it.
    """
    if len({p[0] for p, _ in images}) == 1 and all(len(p) >= 3 for p, _ in images):
        images = [(p[1:], i) for p, i in images]
    tops = {p[0] for p, _ in images}
    if set(SPLITS) <= tops:
        return _given_split(images, tops)
    if any(len(p) < 2 for p, _ in images):
        raise UploadRejected(
            "Images must sit in one sub-folder per class (class_name/image.png), not at the top of the archive.")
    n_classes = len(tops)
    if n_classes < 2:
        raise UploadRejected(f"The archive has {n_classes} class folder; at least 2 are needed.")
    return [(None, p[0], i) for p, i in images]


def _given_split(images: list[tuple[list[str], zipfile.ZipInfo]],
                 tops: set[str]) -> list[tuple[str | None, str, zipfile.ZipInfo]]:
    """A train/ + test/ archive: each split holds the same class folders, nothing sits outside them."""
    others = sorted(tops - set(SPLITS))
    if others:
        raise UploadRejected(f"The archive has train/ and test/ folders and also images outside them (in "
                             f"{_listed([o + '/' for o in others])}); keep only train/ and test/.")
    if any(len(p) < 3 for p, _ in images):
        raise UploadRejected("Images in train/ and test/ must sit in one sub-folder per class "
                             "(train/class_name/image.png), not directly in train/ or test/.")
    classes = {s: {p[1] for p, _ in images if p[0] == s} for s in SPLITS}
    only = {s: sorted(classes[s] - classes[o]) for s, o in (SPLITS, SPLITS[::-1])}
    if only["train"] or only["test"]:
        where = "; ".join(f"{_listed(only[s])} only in {s}/" for s in SPLITS if only[s])
        raise UploadRejected(f"The archive's train/ and test/ folders hold different classes ({where}); give both "
                             "the same class folders.")
    if len(classes["train"]) < 2:
        raise UploadRejected(f"The archive's train/ folder has {len(classes['train'])} class folder; at least 2 "
                             "are needed.")
    return [(p[0], p[1], i) for p, i in images]


def _listed(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(s[:40]) for s in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _check_declared(entries: list[tuple[str | None, str, zipfile.ZipInfo]], max_bytes: int,
                    max_member_bytes: int) -> None:
    """Refuse, before writing anything, an archive whose declared sizes are over the budgets."""
    for _, _, info in entries:
        if info.file_size > max_member_bytes:
            raise UploadRejected(f"The archive member {info.filename[:80]!r} unpacks to {_mb(info.file_size)}; at "
                                 f"most {_mb(max_member_bytes)} per image are accepted.")
    if sum(info.file_size for _, _, info in entries) > max_bytes:
        raise _over_budget(max_bytes)


def _over_budget(max_bytes: int) -> UploadRejected:
    return UploadRejected(f"The archive unpacks to more than {_mb(max_bytes)} of images; upload a smaller image set.")


def _copy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int, max_bytes: int) -> int:
    """Stream one member to ``target``; returns the budget left.

    Stops before writing the chunk that takes the member past its declared size or the total past
    ``max_bytes`` (zipfile also cuts a member at its declared size; this does not rely on it).
    """
    written = 0
    try:
        with zf.open(info) as src, open(target, "wb") as dst:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                if written > info.file_size:
                    raise UploadRejected(f"The archive member {info.filename[:80]!r} unpacks to more than the "
                                         f"{info.file_size:,} bytes it declares; re-create the zip.")
                budget -= len(chunk)
                if budget < 0:
                    raise _over_budget(max_bytes)
                dst.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise UploadRejected(f"The archive member {info.filename[:80]!r} is damaged ({err}); re-create the "
                             "zip.") from None
    except (NotImplementedError, RuntimeError) as err:  # compression / encryption zipfile refuses
        raise UploadRejected(f"The archive member {info.filename[:80]!r} cannot be read ({err}).") from None
    return budget


def _check_image(path: Path, member: str, max_pixels: int) -> None:
    """Read the image header only: a readable image of at most ``max_pixels`` pixels."""
    from PIL import Image, UnidentifiedImageError  # deferred: Pillow is needed only when images are decoded

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        w = h = max_pixels + 1  # Pillow's own bomb guard: over any sane cap
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        reason = str(err).replace(f" {str(path)!r}", "") or type(err).__name__  # no temp paths in messages
        raise UploadRejected(f"The archive member {member[:80]!r} is not a readable image ({reason}).") from None
    if w * h > max_pixels:
        raise UploadRejected(f"The image {member[:80]!r} has more than {max_pixels:,} pixels; at most "
                             f"{max_pixels:,} per image are accepted.")


def _hash(fh: BinaryIO) -> str:
    fh.seek(0)
    h = hashlib.sha256()
    while chunk := fh.read(CHUNK):
        h.update(chunk)
    fh.seek(0)
    return h.hexdigest()


def ingest_zip(data_or_path: bytes | str | os.PathLike, dest_root: str | os.PathLike, *,
               max_zip_bytes: int = MAX_ZIP_BYTES, max_images: int = MAX_IMAGES, max_bytes: int = MAX_BYTES,
               max_pixels: int = MAX_PIXELS, max_member_bytes: int = MAX_MEMBER_BYTES) -> tuple[str, list[str]]:
    """Unpack an image-folder zip under ``dest_root``, keeping its layout (see the module docstring).

    Parameters
    ----------
    data_or_path : bytes or path
        The archive's bytes (an upload) or the path of a .zip file.
    dest_root : path
        Folder of upload folders; each ingest writes ``dest_root/zip-<sha256[:20]>``, holding
        ``class/*`` or ``train/class/*`` + ``test/class/*`` as the archive does.
    max_zip_bytes, max_images, max_bytes, max_pixels, max_member_bytes : int
        Caps on the archive size, the number of images in it (folder entries do not count), the
        total unpacked image bytes, the pixels of one image and the bytes of one image file.

    Returns
    -------
    (folder, classes) : (str, list[str])
        The dataset folder (for ``load_dataset("folder", folder=...)``) and its class names.

    Raises
    ------
    UploadRejected
        With one sentence; nothing is left on disk.
    """
    if not isinstance(data_or_path, (bytes, bytearray, memoryview, str, os.PathLike)):
        raise UploadRejected("No .zip archive was given; choose a .zip file of images to upload.")
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        fh: BinaryIO = io.BytesIO(bytes(data_or_path))
        size = len(data_or_path)
    else:
        try:
            fh = open(data_or_path, "rb")  # noqa: SIM115 - closed below
            size = os.fstat(fh.fileno()).st_size
        except OSError as err:
            raise UploadRejected(f"The upload {str(data_or_path)[:80]!r} cannot be read ({err.strerror}).") from None
    with fh:
        if size > max_zip_bytes:
            raise UploadRejected(f"The archive is {_mb(size)}; at most {_mb(max_zip_bytes)} can be uploaded.")
        dest_root = Path(dest_root)
        final = dest_root / upload_folder_name(_hash(fh))
        marker = read_marker(final)
        if marker is not None and final.is_dir():  # the same archive again: reuse its folder
            os.utime(marker_path(final))
            return str(final), marker
        _check_central_directory(fh, max_images)
        try:
            fh.seek(0)
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise UploadRejected("The upload is not a .zip archive; zip a folder that has one sub-folder of images "
                                 "per class.") from None
        with zf:
            entries = _layout(_images(zf, max_images))
            _check_declared(entries, max_bytes, max_member_bytes)
            return _extract(zf, entries, dest_root, final, max_bytes, max_pixels)


def _extract(zf: zipfile.ZipFile, entries: list[tuple[str | None, str, zipfile.ZipInfo]], dest_root: Path,
             final: Path, max_bytes: int, max_pixels: int) -> tuple[str, list[str]]:
    names = unique_class_names(c for _, c, _ in entries)
    try:
        dest_root.mkdir(parents=True, exist_ok=True)
        tmp = dest_root / f"{TMP_PREFIX}{secrets.token_hex(8)}"
        tmp.mkdir()
    except OSError as err:  # the server's own folder: never named to the user
        raise UploadRejected(f"The server cannot store uploads right now ({err.strerror}).") from None
    try:
        budget = max_bytes
        for split, cls in {(s, c) for s, c, _ in entries}:
            (tmp / (split or "") / names[cls]).mkdir(parents=True, exist_ok=True)
        for n, (split, cls, info) in enumerate(entries):
            target = tmp / (split or "") / names[cls] / f"{n:07d}{Path(info.filename).suffix.lower()}"
            budget = _copy(zf, info, target, budget, max_bytes)
            _check_image(target, info.filename, max_pixels)
        classes = [names[c] for c in sorted(names)]
        try:
            os.replace(tmp, final)
        except OSError:
            # final exists: a concurrent ingest of the same bytes (same hash, same content) finished
            # first, or a crash came between the rename and the marker. Either way it is complete.
            if not final.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        atomic_write_bytes(marker_path(final), json.dumps({"classes": classes, "created": time.time()}).encode())
        return str(final), classes
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError) and not isinstance(err, UploadRejected):  # e.g. a full disk
            raise UploadRejected(f"The upload could not be stored on the server ({err.strerror or err}).") from None
        raise
