"""A dataset in memory (:class:`ImageData`) and the names pages and messages call datasets by.

The loaders (:mod:`eos_core.data._datasets`, :mod:`eos_core.data._folder`) build an :class:`ImageData`;
an unpacked upload is a server-side folder named by its archive's hash (:func:`upload_folder_name`),
so pages call it by the zip's name (:func:`zip_display_name`), never by that folder's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..names import DATASET_NAMES

__all__ = ["ImageData", "data_display_name", "dataset_display_name", "is_upload_folder",
           "upload_folder_name", "zip_display_name"]

# An unpacked upload is named by its archive's hash (eos_core.data._uploads); it is a server-side folder
# the user never typed, so pages and messages call it by the zip's name, never by this one.
_UPLOAD_FOLDER = re.compile(r"zip-[0-9a-f]{20}")
UPLOAD_FALLBACK_NAME = "uploaded images (zip)"


@dataclass
class ImageData:
    """A labelled train/test image dataset held in memory.

    Attributes
    ----------
    x_train, x_test : np.ndarray, float32, shape (N, C, H, W), values in [0, 1]
    y_train, y_test : np.ndarray, int64, shape (N,), values in 0..C-1
    classes : list[str]
        Human-readable class names, indexed by label.
    display_name : str
        What figures and tables call the dataset (e.g. "Fashion-MNIST", "cifar10-jpeg (folder)");
        ``name`` stays the id (``"folder"`` for every image folder).
    """

    name: str
    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    display_name: str = ""

    def __post_init__(self) -> None:
        if not self.display_name:
            self.display_name = dataset_display_name(self.name)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[2])

    def train_counts(self) -> np.ndarray:
        """Per-class counts of the (full, not yet imbalanced) training set, shape (C,)."""
        return np.bincount(self.y_train, minlength=self.num_classes)

    def test_counts(self) -> np.ndarray:
        """Per-class counts of the test set, shape (C,)."""
        return np.bincount(self.y_test, minlength=self.num_classes)


def dataset_display_name(dataset: str, folder: str | os.PathLike | None = None,
                         display_name: str | None = None) -> str:
    """The name figures show for a dataset id (and, for ``"folder"``, its folder).

    ``display_name`` (``DataConfig.display_name``, e.g. "cifar10-jpeg (zip)" for an upload) wins
    when given. Otherwise an image folder is shown as its folder name plus "(folder)", so a
    re-encoded copy of a standard set (e.g. ``cifar10-jpeg``) is never mistaken for the original;
    an unpacked upload without a stored name is "uploaded images (zip)", never its hash.
    """
    if dataset == "folder":
        if display_name:
            return display_name
        if folder is None:
            return "image folder"
        if is_upload_folder(folder):
            return UPLOAD_FALLBACK_NAME
        path = Path(folder)
        return f"{path.name or str(path)} (folder)"
    return DATASET_NAMES.get(dataset, dataset)


def data_display_name(data: Mapping[str, Any]) -> str:
    """:func:`dataset_display_name` of a saved run's ``config["data"]`` (a ``DataConfig`` dict)."""
    return dataset_display_name(str(data.get("dataset") or "?"), data.get("folder"), data.get("display_name"))


def zip_display_name(filename: str | None) -> str:
    """What pages call an uploaded archive: its file name without ``.zip``, plus "(zip)".

    ``"cifar10-jpeg.zip"`` -> ``"cifar10-jpeg (zip)"``. Only a label: it never becomes a path.
    """
    base = str(filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    if base.lower().endswith(".zip"):
        base = base[:-4]
    base = "".join(ch for ch in base if ch.isprintable()).strip()[:60]
    return f"{base} (zip)" if base else UPLOAD_FALLBACK_NAME


def upload_folder_name(sha256_hex: str) -> str:
    """The folder an upload is unpacked into, named by the archive's SHA-256 (same bytes, same folder)."""
    return f"zip-{sha256_hex[:20]}"


def is_upload_folder(folder: str | os.PathLike) -> bool:
    """True for a folder :func:`upload_folder_name` made (a server-side path nobody typed)."""
    return bool(_UPLOAD_FOLDER.fullmatch(Path(folder).name))
