"""Bounded ingestion of an uploaded image-folder ``.zip``.

An upload is untrusted: :func:`ingest_zip` never believes the sizes an archive declares. It checks
the archive size and member count before parsing the member list, streams each image member in
chunks against a total-bytes budget (a zip bomb stops at the budget, memory stays at one chunk),
refuses encrypted, damaged (bad CRC), unsupported or unsafe members with one sentence, reads each
image's header to cap its pixels, and writes only images, under sanitised unique class names and
generated file names. The folder is named by the archive's SHA-256, so uploading the same zip
again reuses it; a failed ingest removes what it wrote, and :func:`sweep_uploads` removes
abandoned folders.
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
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from .atomic import TMP_PREFIX, atomic_write_bytes
from .data import IMAGE_EXTENSIONS
from .errors import UploadRejected

MAX_ZIP_BYTES = 200 * 1024**2        # the archive; .streamlit/config.toml maxUploadSize matches (MB)
MAX_MEMBERS = 60_000                  # files in the archive (CIFAR-10 train + test is 60k)
MAX_BYTES = 1024**3                   # total unpacked image bytes written to disk
MAX_PIXELS = 4096 * 4096              # per image (images are resized to 32x32 anyway)
CHUNK = 1 << 20
MARKER_SUFFIX = ".json"               # zip-<hash>.json beside zip-<hash>/: a finished ingest (classes)
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


def _check_central_directory(fh: BinaryIO, max_members: int) -> None:
    """Refuse an archive whose member list is too long before ``zipfile`` parses all of it."""
    try:
        end = zipfile._EndRecData(fh)  # the stdlib's own reader of the end record (handles zip64)
    except (OSError, ValueError, struct.error):
        end = None
    if end is None:
        raise UploadRejected("The upload is not a .zip archive; zip a folder that has one sub-folder of images "
                             "per class.")
    entries, cd_size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > max_members or cd_size > max(65536, max_members * _CD_BYTES_PER_MEMBER):
        raise UploadRejected(f"The archive has more than {max_members} files; at most {max_members} are supported.")


def _images(zf: zipfile.ZipFile, max_members: int) -> list[tuple[list[str], zipfile.ZipInfo]]:
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > max_members:  # the end record may lie about the count
        raise UploadRejected(f"The archive has {len(infos)} files; at most {max_members} are supported.")
    images = []
    for info in infos:
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
    # Strip one wrapping folder ("my_set/cat/1.png") when every image sits below it.
    if len({p[0] for p, _ in images}) == 1 and all(len(p) >= 3 for p, _ in images):
        images = [(p[1:], i) for p, i in images]
    if any(len(p) < 2 for p, _ in images):
        raise UploadRejected(
            "Images must sit in one sub-folder per class (class_name/image.png), not at the top of the archive.")
    n_classes = len({p[0] for p, _ in images})
    if n_classes < 2:
        raise UploadRejected(f"The archive has {n_classes} class folder; at least 2 are needed.")
    return images


def _copy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int, max_bytes: int) -> int:
    """Stream one member to ``target``; returns the budget left. Never reads more than budget + 1 chunk."""
    try:
        with zf.open(info) as src, open(target, "wb") as dst:
            while chunk := src.read(CHUNK):
                budget -= len(chunk)
                if budget < 0:
                    raise UploadRejected(f"The archive unpacks to more than {_mb(max_bytes)} of images; upload a "
                                         "smaller image set.")
                dst.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise UploadRejected(f"The archive member {info.filename[:80]!r} is damaged ({err}); re-create the "
                             "zip.") from None
    except (NotImplementedError, RuntimeError) as err:  # compression / encryption zipfile refuses
        raise UploadRejected(f"The archive member {info.filename[:80]!r} cannot be read ({err}).") from None
    return budget


def _check_image(path: Path, member: str, max_pixels: int) -> None:
    """Read the image header only: a readable image of at most ``max_pixels`` pixels."""
    import warnings

    from PIL import Image, UnidentifiedImageError

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
               max_zip_bytes: int = MAX_ZIP_BYTES, max_members: int = MAX_MEMBERS, max_bytes: int = MAX_BYTES,
               max_pixels: int = MAX_PIXELS) -> tuple[str, list[str]]:
    """Unpack an image-folder zip (one sub-folder of images per class) under ``dest_root``.

    Parameters
    ----------
    data_or_path : bytes or path
        The archive's bytes (an upload) or the path of a .zip file.
    dest_root : path
        Folder of upload folders; each ingest writes ``dest_root/zip-<sha256[:20]>``.
    max_zip_bytes, max_members, max_bytes, max_pixels : int
        Caps on the archive size, the number of files in it, the total unpacked image bytes and the
        pixels of one image.

    Returns
    -------
    (folder, classes) : (str, list[str])
        The dataset folder (for ``load_dataset("folder", folder=...)``) and its class names.

    Raises
    ------
    UploadRejected
        With one sentence; nothing is left on disk.
    """
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
        final = dest_root / f"zip-{_hash(fh)[:20]}"
        marker = _read_marker(final)
        if marker is not None and final.is_dir():  # the same archive again: reuse its folder
            os.utime(marker_path(final))
            return str(final), marker
        _check_central_directory(fh, max_members)
        try:
            fh.seek(0)
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise UploadRejected("The upload is not a .zip archive; zip a folder that has one sub-folder of images "
                                 "per class.") from None
        with zf:
            images = _images(zf, max_members)
            return _extract(zf, images, dest_root, final, max_bytes, max_pixels)


def marker_path(folder: Path) -> Path:
    """The marker of a finished upload folder: beside it, so the dataset folder holds classes only."""
    return folder.with_name(folder.name + MARKER_SUFFIX)


def _read_marker(folder: Path) -> list[str] | None:
    try:
        classes = json.loads(marker_path(folder).read_text())["classes"]
        return [str(c) for c in classes] if isinstance(classes, list) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _extract(zf: zipfile.ZipFile, images: list, dest_root: Path, final: Path, max_bytes: int,
             max_pixels: int) -> tuple[str, list[str]]:
    names = unique_class_names(p[0] for p, _ in images)
    try:
        dest_root.mkdir(parents=True, exist_ok=True)
        tmp = dest_root / f"{TMP_PREFIX}{secrets.token_hex(8)}"
        tmp.mkdir()
    except OSError as err:
        raise UploadRejected(f"The upload folder {dest_root} cannot be written ({err.strerror}).") from None
    try:
        budget = max_bytes
        for folder in set(names.values()):
            (tmp / folder).mkdir()
        for n, (parts, info) in enumerate(images):
            target = tmp / names[parts[0]] / f"{n:07d}{Path(parts[-1]).suffix.lower()}"
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
            raise UploadRejected(f"The upload could not be written to {dest_root} ({err.strerror or err}).") from None
        raise


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
    except OSError:
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
        except OSError:
            continue
    return removed
