"""Datasets as in-memory arrays.

Every loader returns an :class:`ImageData` with images as ``float32 (N, C, H, W)`` in ``[0, 1]``
and ``int64`` labels. The standard sets go through torchvision's normal download path (online
users get the usual download; files already in the data root are md5-checked and used). When the
files are missing and cannot be downloaded, :class:`~eos_core.errors.DatasetUnavailable` names the
dataset, the folder and the files expected, in one sentence. A user's image folder is loaded by
:mod:`eos_core.data._folder` (train/test layouts, decoded-array cache).
"""

from __future__ import annotations

import numbers
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DatasetUnavailable
from ..names import DATASETS
from ._folder import load_image_folder
from ._imagedata import ImageData

__all__ = ["DATASETS", "default_data_dir", "load_dataset", "load_digits"]

def default_data_dir() -> Path:
    """The data root: ``$EOS_DATA_DIR`` or a per-user cache folder."""
    env = os.environ.get("EOS_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "eos-explorer" / "data"


# Folder images are resized to this range: 8 px is the smallest bundled set (digits); 512 px keeps
# a decoded float32 set of a few thousand images within a laptop's memory.
IMAGE_SIZE_RANGE = (8, 512)


def _check_load_args(name, data_dir, folder, image_size) -> None:
    """One ConfigError sentence for an argument of the wrong type, before any file is touched."""
    if not isinstance(name, str):
        raise ConfigError(f"The dataset must be a name, one of {', '.join(DATASETS)}; got {name!r}.")
    for label, path in (("data_dir", data_dir), ("folder", folder)):
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise ConfigError(f"{label} must be a path (a string), got {type(path).__name__}.")
    lo, hi = IMAGE_SIZE_RANGE
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or not lo <= image_size <= hi:
        raise ConfigError(f"image_size must be an integer number of pixels in [{lo}, {hi}], got {image_size!r}.")


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, *,
                 folder: str | os.PathLike | None = None, image_size: int = 32,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: threading.Event | None = None) -> ImageData:
    """Load a dataset by name.

    Parameters
    ----------
    name : {"digits", "mnist", "fashion-mnist", "cifar10", "svhn", "folder"}
    data_dir : path, optional
        Data root for torchvision datasets; defaults to :func:`default_data_dir`.
    folder : path, optional
        For ``name="folder"``: an image folder with one sub-folder per class, or with ``train/``
        and ``test/`` sub-folders that each hold one sub-folder per class (used as given).
    image_size : int in [8, 512]
        For ``name="folder"``: images are resized to ``image_size x image_size``.
    progress, cancel : optional
        For ``name="folder"``: ``progress(done, total)`` while decoding, and a cancel event.

    Raises
    ------
    ConfigError
        An argument of the wrong type (``name=None``, a number as ``folder``) or ``image_size``
        out of range.
    DatasetUnavailable
        An unknown name, or files missing offline.
    """
    _check_load_args(name, data_dir, folder, image_size)
    key = name.lower().replace("_", "-")
    if key == "fashionmnist":
        key = "fashion-mnist"
    if key == "digits":
        return load_digits()
    if key == "folder":
        if folder is None:
            raise DatasetUnavailable("The 'folder' dataset needs a folder with one sub-folder of images per class.")
        return load_image_folder(folder, image_size=image_size, progress=progress, cancel=cancel)
    loaders: dict[str, Callable[[Path], ImageData]] = {
        "mnist": _load_mnist_like("mnist"),
        "fashion-mnist": _load_mnist_like("fashion-mnist"),
        "cifar10": _load_cifar10,
        "svhn": _load_svhn,
    }
    if key not in loaders:
        raise DatasetUnavailable(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    return loaders[key](root)


# --------------------------------------------------------------------------- digits (embedded)

def load_digits(test_size: float = 0.3) -> ImageData:
    """scikit-learn's bundled 8x8 digits, split once with a fixed seed.

    The split seed is fixed (not the run seed) so that every run, whatever its seed, is evaluated
    on the same balanced test set, as with the standard image datasets.
    """
    # deferred: sklearn loads in seconds; only the digits set needs it
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    bunch = _sk_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, stratify=y, random_state=0)
    return ImageData("digits", [str(c) for c in range(10)], np.ascontiguousarray(x_tr), y_tr,
                     np.ascontiguousarray(x_te), y_te)


# --------------------------------------------------------------------------- torchvision sets

def _unavailable(title: str, root: Path, sub: str, files: list[str], err: Exception) -> DatasetUnavailable:
    """One sentence naming the folder *inside* the data root: the root itself is a server path the
    app's user never typed (the CLI's user set it with --data-dir or EOS_DATA_DIR)."""
    where = f"{sub}/ of the data folder" if sub else "the data folder"
    reason = _short(err).replace(str(root), "<data folder>")
    return DatasetUnavailable(
        f"{title} is not available in {where} (EOS_DATA_DIR or --data-dir) and could not be downloaded ({reason}); "
        f"put {', '.join(files)} there (or go online) and try again."
    )


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return (text[-1] if text else type(err).__name__)[:160]


def _load_mnist_like(key: str) -> Callable[[Path], ImageData]:
    def load(root: Path) -> ImageData:
        from torchvision import datasets  # deferred: torchvision loads torch (seconds)

        cls = datasets.MNIST if key == "mnist" else datasets.FashionMNIST
        title = "MNIST" if key == "mnist" else "Fashion-MNIST"
        try:
            # download=True is torchvision's normal path: archives already present are md5-checked
            # and extracted without any network access; missing ones are downloaded.
            train = cls(str(root), train=True, download=True)
            test = cls(str(root), train=False, download=True)
        except (RuntimeError, OSError) as err:
            raise _unavailable(title, root, f"{cls.__name__}/raw", [f for f, _ in cls.resources], err) from None
        return ImageData(key, list(train.classes), _to_float(train.data.numpy()[:, None]),
                         train.targets.numpy().astype(np.int64), _to_float(test.data.numpy()[:, None]),
                         test.targets.numpy().astype(np.int64))
    return load


def _load_cifar10(root: Path) -> ImageData:
    from torchvision import datasets  # deferred: torchvision loads torch (seconds)

    try:
        train = datasets.CIFAR10(str(root), train=True, download=True)
        test = datasets.CIFAR10(str(root), train=False, download=True)
    except (RuntimeError, OSError) as err:
        raise _unavailable("CIFAR-10", root, "", [datasets.CIFAR10.filename], err) from None
    return ImageData("cifar10", list(train.classes), _to_float(train.data.transpose(0, 3, 1, 2)),
                     np.asarray(train.targets, np.int64), _to_float(test.data.transpose(0, 3, 1, 2)),
                     np.asarray(test.targets, np.int64))


def _load_svhn(root: Path) -> ImageData:
    from torchvision import datasets  # deferred: torchvision loads torch (seconds)

    folder = root / "svhn"
    try:
        train = datasets.SVHN(str(folder), split="train", download=True)
        test = datasets.SVHN(str(folder), split="test", download=True)
    except (RuntimeError, OSError) as err:
        raise _unavailable("SVHN", root, "svhn", ["train_32x32.mat", "test_32x32.mat"], err) from None
    return ImageData("svhn", [str(c) for c in range(10)], _to_float(train.data),
                     train.labels.astype(np.int64), _to_float(test.data), test.labels.astype(np.int64))


def _to_float(u8: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(u8, dtype=np.float32) / np.float32(255.0)
