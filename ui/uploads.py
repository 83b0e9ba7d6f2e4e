"""Image-folder uploads: unpack a .zip of class folders into the run store's ``uploads/``.

``extract_image_zip(data) -> (folder, class_names)`` is the app's one entry point; it becomes a
thin call to the engine's upload module (``eos_core.uploads``, issue 10) once that exists, with
this signature kept.
"""

from __future__ import annotations

import io
import re
import secrets
import zipfile
from pathlib import Path

from eos_core.errors import DatasetUnavailable
from ui.cache import runs_root

MAX_UPLOAD_FILES = 100_000
MAX_UNCOMPRESSED = 2 * 1024**3
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def extract_image_zip(data: bytes) -> tuple[str, list[str]]:
    """Unpack an uploaded .zip with one sub-folder per class into a generated folder.

    Only image files are written, each under a sanitised class-folder name with a generated file
    name: nothing the user typed or named becomes a path as is. Returns ``(folder, class_names)``;
    raises ``DatasetUnavailable`` with one sentence when the upload is not an image dataset.
    """
    from eos_core.data import IMAGE_EXTENSIONS

    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DatasetUnavailable(
            "The upload is not a .zip archive; zip a folder that has one sub-folder of images per class.") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_UPLOAD_FILES:
            raise DatasetUnavailable(f"The archive has {len(infos)} files; at most {MAX_UPLOAD_FILES} are supported.")
        if sum(i.file_size for i in infos) > MAX_UNCOMPRESSED:
            raise DatasetUnavailable("The archive unpacks to more than 2 GB; use a smaller image set.")
        images = []
        for i in infos:
            parts = [p for p in i.filename.replace("\\", "/").split("/") if p not in ("", ".")]
            if not parts or any(p == ".." or p.startswith(".") for p in parts) or parts[0] == "__MACOSX":
                continue
            if Path(parts[-1]).suffix.lower() in IMAGE_EXTENSIONS:
                images.append((parts, i))
        if not images:
            raise DatasetUnavailable("The archive has no image files (" + ", ".join(IMAGE_EXTENSIONS) + ").")
        # Strip one wrapping folder ("my_set/cat/1.png") when every image sits below it.
        tops = {p[0] for p, _ in images}
        if len(tops) == 1 and all(len(p) >= 3 for p, _ in images):
            images = [(p[1:], i) for p, i in images]
        if any(len(p) < 2 for p, _ in images):
            raise DatasetUnavailable(
                "Images must sit in one sub-folder per class (class_name/image.png), not at the top of the archive.")
        classes = sorted({p[0] for p, _ in images})
        if len(classes) < 2:
            raise DatasetUnavailable(f"The archive has {len(classes)} class folder; at least 2 are needed.")
        root = Path(runs_root()) / "uploads" / secrets.token_hex(8)
        names = {}
        for k, c in enumerate(classes):
            safe = _SAFE.sub("_", c).strip("._-")[:60] or "class"
            names[c] = f"{safe}" if safe not in names.values() else f"{safe}_{k}"
        for n, (p, info) in enumerate(images):
            target = root / names[p[0]] / f"{n:07d}{Path(p[-1]).suffix.lower()}"
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                dst.write(src.read())
    return str(root), [names[c] for c in classes]

