"""Image-folder uploads: the app's one entry point, a thin call to the engine's bounded ingestion.

``extract_image_zip(data) -> (folder, class_names)`` stores the archive under the run store's
``uploads/`` through :func:`eos_core.uploads.ingest_zip` (size, member, byte and pixel budgets;
duplicates reuse their folder) after sweeping abandoned upload folders.
"""

from __future__ import annotations

from pathlib import Path

from eos_core.errors import EOSError
from ui.cache import get_store, runs_root


def extract_image_zip(data: bytes) -> tuple[str, list[str]]:
    """Unpack an uploaded .zip with one sub-folder per class (bounded: see ``eos_core.uploads``).

    Returns ``(folder, class_names)``; raises ``DatasetUnavailable`` (``UploadRejected``) with one
    sentence. Abandoned upload folders (not used by a saved run for a day) are swept first.
    """
    from eos_core.uploads import ingest_zip, sweep_uploads

    root = Path(runs_root()) / "uploads"
    try:
        keep = [(r.config.get("data") or {}).get("folder") for r in get_store().list_runs()]
    except EOSError:  # the store is unusable: keep every folder
        keep = None
    if keep is not None:
        sweep_uploads(root, keep=keep)
    return ingest_zip(data, root)
