"""Decoding one image file into a small fixed-size uint8 array, safely and fast.

Two decoders: small baseline/progressive JPEGs (the common case: CIFAR-like sets of thousands of
tiny files) go through torchvision's libjpeg-turbo binding, about five times faster per file than
Pillow's Python-level header parsing; every other file, and any JPEG the fast path refuses, goes
through Pillow. Both give the same pixels for 3-channel JPEGs (same libjpeg-turbo underneath).

Every image's pixel count is checked against a cap *before* its pixels are decoded, from the
header alone, so a "decompression bomb" (a few kilobytes declaring a gigapixel image) is refused
instead of exhausting memory.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
JPEG_EXTENSIONS = (".jpg", ".jpeg")

# 64 megapixels: above today's phone photos (up to ~50 MP in common use), below Pillow's own
# bomb threshold (~89 MP), and one such RGB image decodes to ~190 MB — bounded per worker.
PIXEL_CAP = 64_000_000

# Images of one dataset held in memory at once (folder loader and zip uploads alike): CIFAR-10's
# 60,000 pass with room to spare; 200,000 32x32 RGB images are ~2.4 GB as float32.
MAX_IMAGES = 200_000

# Pillow modes treated as grey-scale (the dataset is grey when every image is).
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
# JPEG start-of-frame markers (baseline, extended, progressive, lossless; not DHT/JPG/DAC).
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


class ImageFileError(Exception):
    """A file that cannot become an image; ``kind`` is ``"bomb"`` or ``"unreadable"``.

    Internal: the folder loader turns it into a one-sentence ``DatasetUnavailable`` naming the file.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class DecodedImage:
    """One decoded image: ``pixels`` uint8, shape (3, size, size); ``gray`` when the file was grey-scale."""

    pixels: np.ndarray
    gray: bool


def jpeg_header(data: bytes) -> tuple[int, int, int] | None:
    """``(width, height, components)`` from a JPEG's start-of-frame segment, or None if none is found.

    Reads only the marker segments before the frame header (a few hundred bytes), no pixels.
    """
    if data[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length field
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in _SOF_MARKERS:
            if i + 10 > n:
                return None
            height = int.from_bytes(data[i + 5:i + 7], "big")
            width = int.from_bytes(data[i + 7:i + 9], "big")
            return width, height, data[i + 9]
        if marker == 0xDA or length < 2:  # start of scan before any frame header: malformed
            return None
        i += 2 + length
    return None


def decode_image_file(path: str | os.PathLike, size: int, *, max_pixels: int = PIXEL_CAP) -> DecodedImage:
    """Decode one image file and resize it (bilinear) to ``size`` x ``size`` RGB.

    Parameters
    ----------
    path : path
    size : int
        Output side in pixels.
    max_pixels : int
        Images declaring more pixels (width x height) are refused before decoding.

    Returns
    -------
    DecodedImage
        ``pixels`` uint8 of shape (3, size, size); grey images are replicated over the 3 channels.

    Raises
    ------
    ImageFileError
        ``kind="bomb"`` above the pixel cap, ``kind="unreadable"`` for anything that is not a
        readable image (the reason is Pillow's or the OS's last line).
    """
    out = decode_image_files([os.fspath(path)], size, max_pixels=max_pixels)[0]
    if isinstance(out, ImageFileError):
        raise out
    return out


def decode_image_files(paths: Sequence[str], size: int, *,
                       max_pixels: int = PIXEL_CAP) -> list[DecodedImage | ImageFileError]:
    """Decode a batch of files like :func:`decode_image_file`; failures are returned, not raised.

    Small 1- or 3-channel JPEGs are decoded by torchvision in one call per batch (its per-call
    Python overhead is as large as the decode of a 32-px JPEG); everything else, and every JPEG the
    fast path refuses, goes through Pillow one file at a time.

    Returns
    -------
    list
        One entry per path, in order: a :class:`DecodedImage` or the :class:`ImageFileError`.
    """
    out: list[DecodedImage | ImageFileError | None] = [None] * len(paths)
    fast: dict[int, list[tuple[int, bytearray]]] = {1: [], 3: []}   # channels -> (index, bytes)
    for i, path in enumerate(paths):
        # Plain str/os calls: pathlib's parsing costs as much as decoding a 32-px JPEG.
        try:
            with open(path, "rb") as f:
                data = bytearray(f.read())  # writable, as torch.frombuffer wants
        except OSError as err:
            out[i] = ImageFileError("unreadable", err.strerror or type(err).__name__)
            continue
        try:
            comps = _fast_jpeg_channels(data, size, max_pixels) if path.lower().endswith(JPEG_EXTENSIONS) else None
            if comps is None:
                out[i] = _decode_pillow(data, size, max_pixels)
            else:
                fast[comps].append((i, data))
        except ImageFileError as err:
            out[i] = err
    for comps, items in fast.items():
        for (i, data), arr in zip(items, _decode_jpegs(items, comps), strict=True):
            try:
                out[i] = _finish(arr, size, comps) if arr is not None else _decode_pillow(data, size, max_pixels)
            except ImageFileError as err:
                out[i] = err
    return out  # type: ignore[return-value]


@contextlib.contextmanager
def decoding_warnings() -> Iterator[None]:
    """Warning filters for a batch of :func:`decode_image_files` calls.

    Pillow warns (and errors at twice its limit, ~179 MP) while opening a huge image, before our own
    cap is checked: the warning becomes an error, reported as a bomb. torchvision 0.29 warns on every
    ``decode_jpeg`` call that its image ops are deprecated (it is pinned; Pillow takes over if they
    go): silenced. Enter this once in the main thread around a batch of decodes — warning filters
    are process-wide and ``catch_warnings`` is not safe to nest from several worker threads.
    """
    from PIL import Image  # deferred: Pillow is needed only when images are decoded

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torchvision\.io")
        yield


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageFileError("bomb", f"it declares {width}×{height} pixels, more than the cap of {max_pixels:,}")


def _fast_jpeg_channels(data: bytearray, size: int, max_pixels: int) -> int | None:
    """1 or 3 when the JPEG can take torchvision's fast path, None to use Pillow.

    Raises ``ImageFileError("bomb")`` from the header alone. Large JPEGs go to Pillow, whose draft
    mode decodes them at 1/2–1/8 scale (far cheaper than a full decode and a resize); CMYK and other
    layouts go to Pillow for its colour conversion; malformed ones for its error message.
    """
    head = jpeg_header(data)
    if head is None:
        return None
    width, height, comps = head
    _check_pixels(width, height, max_pixels)
    if comps not in (1, 3) or not (0 < width < 2 * size) or not (0 < height < 2 * size):
        return None
    return comps


def _decode_jpegs(items: list[tuple[int, bytearray]], comps: int) -> list[np.ndarray | None]:
    """torchvision-decoded (C, H, W) arrays, None where a file failed (Pillow then explains why)."""
    if not items:
        return []
    try:  # deferred: torch and torchvision load in seconds; only a batch of JPEGs needs them
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg
    except ImportError:  # torchvision without its image ops (it plans to drop them): Pillow does it all
        return [None] * len(items)
    mode = ImageReadMode.GRAY if comps == 1 else ImageReadMode.RGB
    tensors = [torch.frombuffer(data, dtype=torch.uint8) for _, data in items]
    try:
        return [t.numpy() for t in decode_jpeg(tensors, mode=mode)]
    except (RuntimeError, ValueError):  # one bad file fails the whole batch: retry one by one
        out: list[np.ndarray | None] = []
        for t in tensors:
            try:
                out.append(decode_jpeg(t, mode=mode).numpy())
            except (RuntimeError, ValueError):
                out.append(None)
        return out


def _finish(arr: np.ndarray, size: int, comps: int) -> DecodedImage:
    """Resize a (C, H, W) uint8 array to (3, size, size) like Pillow's bilinear resize."""
    if arr.shape[1:] != (size, size):
        from PIL import Image  # deferred: Pillow is needed only when images are decoded

        img = Image.fromarray(arr[0] if comps == 1 else arr.transpose(1, 2, 0))
        arr = np.asarray(img.resize((size, size), Image.BILINEAR))
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    if comps == 1:
        arr = np.repeat(arr, 3, axis=0)
    return DecodedImage(np.ascontiguousarray(arr, dtype=np.uint8), comps == 1)


def _decode_pillow(data: bytearray, size: int, max_pixels: int) -> DecodedImage:
    from PIL import Image, UnidentifiedImageError  # deferred: Pillow is needed only when images are decoded

    try:
        with Image.open(io.BytesIO(data)) as im:
            _check_pixels(im.size[0], im.size[1], max_pixels)
            gray = im.mode in _GRAY_MODES
            # JPEG draft: let libjpeg decode at a reduced scale still >= the target size.
            im.draft("RGB", (size, size))
            im.load()
            rgb = im.convert("RGB")
            if rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.BILINEAR)
            return DecodedImage(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)), gray)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        found = re.search(r"\((\d+) pixels\)", str(err))
        declared = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise ImageFileError("bomb", f"it declares {declared}, more than Pillow's limit of "
                                     f"{Image.MAX_IMAGE_PIXELS:,}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as err:
        raise ImageFileError("unreadable", _last_line(err)) from None


def _last_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    msg = text[-1] if text else type(err).__name__
    # Pillow names the in-memory buffer ("<_io.BytesIO object at 0x…>"); the caller names the file.
    if "_io.BytesIO" in msg:
        msg = msg.split("<_io.BytesIO")[0].strip().rstrip(":") or type(err).__name__
    return msg[:160]
