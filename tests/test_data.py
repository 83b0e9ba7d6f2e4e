import numpy as np
import pytest
from PIL import Image

from eos_core.data import load_dataset
from eos_core.errors import DatasetUnavailable


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Decoded image folders are cached under the test's own folder, never the user's cache."""
    monkeypatch.setenv("EOS_CACHE_DIR", str(tmp_path / "cache"))


def test_digits_is_embedded_and_split_is_fixed():
    d = load_dataset("digits")
    assert d.x_train.shape == (1257, 1, 8, 8) and d.x_test.shape == (540, 1, 8, 8)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert d.num_classes == 10
    # stratified: every class is in the test set, about 30 % each
    assert d.test_counts().min() >= 50
    again = load_dataset("digits")
    assert np.array_equal(d.y_test, again.y_test)


def test_fashion_mnist_from_shared_folder(shared_data_dir):
    d = load_dataset("fashion-mnist", shared_data_dir)
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert d.train_counts().tolist() == [6000] * 10
    assert d.test_counts().tolist() == [1000] * 10
    assert d.classes[0] == "T-shirt/top" and d.classes[9] == "Ankle boot"


def test_offline_missing_dataset_names_folder_and_files(tmp_path):
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("fashion-mnist", tmp_path)
    msg = str(info.value)
    assert "Fashion-MNIST" in msg
    assert "in FashionMNIST/raw/ of the data folder (EOS_DATA_DIR or --data-dir)" in msg
    assert str(tmp_path) not in msg  # the data root is a server path the app's user never typed
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert "\n" not in msg


def test_unknown_dataset():
    with pytest.raises(DatasetUnavailable, match="Unknown dataset"):
        load_dataset("imagenet")


def _write_folder(root, classes=("cat", "dog", "fox"), n=6, mode="RGB", size=(10, 12)):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            arr = rng.integers(0, 255, (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0]), dtype=np.uint8)
            Image.fromarray(arr, mode).save(root / c / f"{i}.png")


def test_image_folder_rgb(tmp_path):
    _write_folder(tmp_path / "ds")
    d = load_dataset("folder", folder=tmp_path / "ds", image_size=16)
    assert d.classes == ["cat", "dog", "fox"]
    assert d.x_train.shape[1:] == (3, 16, 16)
    assert len(d.y_train) + len(d.y_test) == 18
    assert set(d.y_test.tolist()) == {0, 1, 2}


def test_image_folder_grayscale(tmp_path):
    _write_folder(tmp_path / "ds", mode="L")
    d = load_dataset("folder", folder=tmp_path / "ds", image_size=8)
    assert d.x_train.shape[1:] == (1, 8, 8)


def test_folder_with_a_non_image_file_is_a_clear_error(tmp_path):
    _write_folder(tmp_path / "ds")
    (tmp_path / "ds" / "dog" / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(DatasetUnavailable, match="broken.png.*not a readable image"):
        load_dataset("folder", folder=tmp_path / "ds")


def test_folder_without_class_folders(tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.txt").write_text("hello")
    with pytest.raises(DatasetUnavailable, match="not an image dataset|class folder"):
        load_dataset("folder", folder=tmp_path / "flat")
    with pytest.raises(DatasetUnavailable, match="does not exist"):
        load_dataset("folder", folder=tmp_path / "missing")


def test_folder_with_many_tiny_classes_still_splits(tmp_path):
    classes = [f"c{i}" for i in range(10)]
    _write_folder(tmp_path / "ds", classes=classes, n=2)
    d = load_dataset("folder", folder=tmp_path / "ds", image_size=8)
    assert d.train_counts().tolist() == [1] * 10
    assert d.test_counts().tolist() == [1] * 10
