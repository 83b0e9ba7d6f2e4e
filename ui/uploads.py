"""A user's own images on page 1: a .zip upload, or a folder on the machine that runs the app.

``extract_image_zip(data) -> (folder, class_names)`` stores the archive under the run store's
``uploads/`` through :func:`eos_core.data.ingest_zip` (size, image, byte and pixel budgets;
duplicates reuse their folder) after sweeping abandoned upload folders. ``from_upload`` and
``from_local_folder`` turn either source into the page's record of the chosen image set (folder,
classes, layout, display name). A typed folder is read only when the server listens on this
machine alone (:func:`server_is_local`): on a network anyone could read the server's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eos_core.errors import DatasetUnavailable, EOSError
from ui.cache import get_store, runs_root

NOT_LOCAL = ("This app is shared on a network (its server address is not localhost), so it reads images only "
             "from .zip uploads, never from folders on the server.")
MAX_TYPED = 1000  # characters of a typed folder path


def server_is_local() -> bool:
    """True when the server listens on this machine alone (:func:`ui.state.local_server`, the one
    reading of Streamlit's ``server.address``: localhost or a loopback IP)."""
    from ui.state import local_server

    return local_server()


def extract_image_zip(data: bytes) -> tuple[str, list[str]]:
    """Unpack an uploaded .zip (one sub-folder per class, or train/ + test/; see ``eos_core.data._uploads``).

    Returns ``(folder, class_names)``; raises ``DatasetUnavailable`` (``UploadRejected``) with one
    sentence. Abandoned upload folders (not used by a saved run for a day) are swept first.
    """
    from eos_core.data import ingest_zip, sweep_uploads

    root = Path(runs_root()) / "uploads"
    try:
        keep = [(r.config.get("data") or {}).get("folder") for r in get_store().list_runs()]
    except EOSError:  # the store is unusable: keep every folder
        keep = None
    if keep is not None:
        sweep_uploads(root, keep=keep)
    return ingest_zip(data, root)


def from_upload(data: bytes, file_name: str, file_id: str | None) -> dict[str, Any]:
    """The page's record of an uploaded zip: unpacked, scanned, named after the zip's file name."""
    from eos_core.data import zip_display_name

    folder, _ = extract_image_zip(data)
    return _record(folder, display_name=zip_display_name(file_name), source="zip", file_id=file_id)


def from_local_folder(typed: str) -> dict[str, Any]:
    """The page's record of a folder typed by the user (as the CLI's ``--folder``).

    Raises ``DatasetUnavailable`` with one sentence: on a shared server (:data:`NOT_LOCAL`), or
    for a bad path (the sentence repeats the path as typed, and no other server path).
    """
    if not server_is_local():
        raise DatasetUnavailable(NOT_LOCAL)
    typed = typed.strip()
    if len(typed) > MAX_TYPED:
        raise DatasetUnavailable(f"The folder path is {len(typed)} characters long; at most {MAX_TYPED} are accepted.")
    return _record(typed, display_name=None, source="local", file_id=None)


def _record(folder: str, *, display_name: str | None, source: str, file_id: str | None) -> dict[str, Any]:
    from eos_core.data import dataset_display_name, scan_image_folder

    layout = scan_image_folder(folder)  # no decoding: classes and layout in well under a second
    return {"folder": folder, "classes": list(layout.classes), "split": layout.split, "source": source,
            "file_id": file_id, "display_name": display_name,
            "name": dataset_display_name("folder", folder, display_name)}


def layout_sentence(record: dict[str, Any]) -> str:
    """How the test set is made, in one sentence, from the record's layout."""
    from eos_core.data import HOLDOUT_TEST_SIZE

    if record.get("split") == "given":
        return "Its train/ and test/ folders are used as given: the imbalance is applied to train/ only."
    return (f"It has no train/ and test/ folders, so {HOLDOUT_TEST_SIZE:.0%} of each class (fixed seed) is held "
            "out as the test set.")


def counts_rows(info: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per class: the train and test images as the data gives them (before any imbalance)."""
    return [{"class": c, "train (as given)": int(n_tr), "test": int(n_te)}
            for c, n_tr, n_te in zip(info["classes"], info["train"], info["test"], strict=True)]
