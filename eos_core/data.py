"""Datasets as in-memory arrays.

Every loader returns an :class:`ImageData` with images as ``float32 (N, C, H, W)`` in ``[0, 1]``
and ``int64`` labels. The standard sets go through torchvision's normal download path (online
users get the usual download; files already in the data root are md5-checked and used). When the
files are missing and cannot be downloaded, :class:`~eos_core.errors.DatasetUnavailable` names the
dataset, the folder and the files expected, in one sentence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DatasetUnavailable

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "svhn", "folder")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


@dataclass
class ImageData:
    """A labelled train/test image dataset held in memory.

    Attributes
    ----------
    x_train, x_test : np.ndarray, float32, shape (N, C, H, W), values in [0, 1]
    y_train, y_test : np.ndarray, int64, shape (N,), values in 0..C-1
    classes : list[str]
        Human-readable class names, indexed by label.
    """

    name: str
    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

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


def default_data_dir() -> Path:
    """The data root: ``$EOS_DATA_DIR`` or a per-user cache folder."""
    env = os.environ.get("EOS_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "eos-explorer" / "data"


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, *,
                 folder: str | os.PathLike | None = None, image_size: int = 32) -> ImageData:
    """Load a dataset by name.

    Parameters
    ----------
    name : {"digits", "mnist", "fashion-mnist", "cifar10", "svhn", "folder"}
    data_dir : path, optional
        Data root for torchvision datasets; defaults to :func:`default_data_dir`.
    folder : path, optional
        For ``name="folder"``: an image folder with one sub-folder per class.
    image_size : int
        For ``name="folder"``: images are resized to ``image_size x image_size``.
    """
    key = name.lower().replace("_", "-")
    if key == "fashionmnist":
        key = "fashion-mnist"
    if key == "digits":
        return load_digits()
    if key == "folder":
        if folder is None:
            raise DatasetUnavailable("The 'folder' dataset needs a folder with one sub-folder of images per class.")
        return load_image_folder(folder, image_size=image_size)
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
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    bunch = _sk_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, stratify=y, random_state=0)
    return ImageData("digits", [str(c) for c in range(10)], np.ascontiguousarray(x_tr), y_tr,
                     np.ascontiguousarray(x_te), y_te)


# --------------------------------------------------------------------------- torchvision sets

def _unavailable(title: str, folder: Path, files: list[str], err: Exception) -> DatasetUnavailable:
    return DatasetUnavailable(
        f"{title} is not available in {folder} and could not be downloaded ({_short(err)}); "
        f"put {', '.join(files)} there (or go online) and try again."
    )


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return (text[-1] if text else type(err).__name__)[:160]


def _load_mnist_like(key: str) -> Callable[[Path], ImageData]:
    def load(root: Path) -> ImageData:
        from torchvision import datasets

        cls = datasets.MNIST if key == "mnist" else datasets.FashionMNIST
        title = "MNIST" if key == "mnist" else "Fashion-MNIST"
        try:
            # download=True is torchvision's normal path: archives already present are md5-checked
            # and extracted without any network access; missing ones are downloaded.
            train = cls(str(root), train=True, download=True)
            test = cls(str(root), train=False, download=True)
        except (RuntimeError, OSError) as err:
            folder = root / cls.__name__ / "raw"
            raise _unavailable(title, folder, [f for f, _ in cls.resources], err) from None
        return ImageData(key, list(train.classes), _to_float(train.data.numpy()[:, None]),
                         train.targets.numpy().astype(np.int64), _to_float(test.data.numpy()[:, None]),
                         test.targets.numpy().astype(np.int64))
    return load


def _load_cifar10(root: Path) -> ImageData:
    from torchvision import datasets

    try:
        train = datasets.CIFAR10(str(root), train=True, download=True)
        test = datasets.CIFAR10(str(root), train=False, download=True)
    except (RuntimeError, OSError) as err:
        raise _unavailable("CIFAR-10", root, [datasets.CIFAR10.filename], err) from None
    return ImageData("cifar10", list(train.classes), _to_float(train.data.transpose(0, 3, 1, 2)),
                     np.asarray(train.targets, np.int64), _to_float(test.data.transpose(0, 3, 1, 2)),
                     np.asarray(test.targets, np.int64))


def _load_svhn(root: Path) -> ImageData:
    from torchvision import datasets

    folder = root / "svhn"
    try:
        train = datasets.SVHN(str(folder), split="train", download=True)
        test = datasets.SVHN(str(folder), split="test", download=True)
    except (RuntimeError, OSError) as err:
        raise _unavailable("SVHN", folder, ["train_32x32.mat", "test_32x32.mat"], err) from None
    return ImageData("svhn", [str(c) for c in range(10)], _to_float(train.data),
                     train.labels.astype(np.int64), _to_float(test.data), test.labels.astype(np.int64))


def _to_float(u8: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(u8, dtype=np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------- image folder

def load_image_folder(folder: str | os.PathLike, *, image_size: int = 32, test_size: float = 0.2,
                      max_images: int = 200_000) -> ImageData:
    """A user's image folder, one sub-folder per class (torchvision's ImageFolder layout).

    Images are resized to ``image_size`` squared; the set is grey-scale if every image is, else RGB.
    A fixed-seed stratified split holds out ``test_size`` of each class as the test set.
    """
    from PIL import Image, UnidentifiedImageError
    from torchvision.datasets import DatasetFolder

    root = Path(folder)
    if not root.is_dir():
        raise DatasetUnavailable(f"The image folder {root} does not exist or is not a folder.")
    try:
        ds = DatasetFolder(str(root), loader=lambda p: p, extensions=IMAGE_EXTENSIONS)
    except (FileNotFoundError, RuntimeError) as err:
        raise DatasetUnavailable(
            f"{root} is not an image dataset: it needs one sub-folder per class with image files "
            f"({', '.join(IMAGE_EXTENSIONS)}) — {_short(err)}."
        ) from None
    if len(ds.classes) < 2:
        raise DatasetUnavailable(f"{root} has {len(ds.classes)} class folder(s); at least 2 are needed.")
    if len(ds.samples) > max_images:
        raise DatasetUnavailable(f"{root} has {len(ds.samples)} images; at most {max_images} are supported in memory.")
    images, labels, modes = [], [], set()
    for path, label in ds.samples:
        try:
            with Image.open(path) as im:
                im.load()
                modes.add("L" if im.mode in ("1", "L", "I;16", "I") else "RGB")
                images.append(im.convert("RGB").resize((image_size, image_size), Image.BILINEAR))
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise DatasetUnavailable(
                f"{Path(path).name} in class folder {Path(path).parent.name!r} is not a readable image ({_short(err)})."
            ) from None
        labels.append(label)
    gray = modes == {"L"}
    arr = np.stack([np.asarray(im.convert("L") if gray else im, dtype=np.uint8) for im in images])
    arr = arr[:, None] if gray else arr.transpose(0, 3, 1, 2)
    y = np.asarray(labels, np.int64)
    counts = np.bincount(y, minlength=len(ds.classes))
    if counts.min() < 2:
        small = [ds.classes[i] for i in np.flatnonzero(counts < 2)]
        raise DatasetUnavailable(f"Class folder(s) {', '.join(small)} need at least 2 images (one for training, one for testing).")
    tr, te = _holdout_per_class(y, test_size)
    x = _to_float(arr)
    return ImageData("folder", list(ds.classes), x[tr], y[tr], x[te], y[te])


def _holdout_per_class(y: np.ndarray, test_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed split holding out ``test_size`` of every class, at least one image each.

    scikit-learn's stratified split refuses folders with many small classes (the test set must
    hold at least one sample per class); a per-class hold-out always works when each class has
    two images or more.
    """
    rng = np.random.default_rng(0)
    tr, te = [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        n_test = min(len(rows) - 1, max(1, int(round(test_size * len(rows)))))
        te.append(rows[:n_test])
        tr.append(rows[n_test:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(te))
