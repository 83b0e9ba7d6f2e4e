"""The folder dataset: train/test layouts, the decoded-array cache, bombs, broken files, class names."""

import io
import json
import os
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image

from eos_core.data import _folder as folder_data
from eos_core.data import (
    dataset_display_name,
    decode_image_file,
    decode_image_files,
    decoding_warnings,
    jpeg_header,
    load_dataset,
    load_image_folder,
    scan_image_folder,
    unique_class_names,
)
from eos_core.errors import Cancelled, DatasetUnavailable


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Every test gets its own decoded-array cache (never the user's)."""
    path = tmp_path / "cache"
    monkeypatch.setenv("EOS_CACHE_DIR", str(path))
    return path


def _img(seed: int, size=(12, 10), mode="RGB") -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    return rng.integers(0, 255, shape, dtype=np.uint8)


def _write(root, counts: dict[str, int], *, ext="png", size=(12, 10), mode="RGB", seed=0) -> None:
    for k, (cls, n) in enumerate(counts.items()):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(_img(seed + 100 * k + i, size, mode), mode).save(root / cls / f"{i:03d}.{ext}")


def _split_folder(root, train: dict[str, int], test: dict[str, int], **kw) -> None:
    _write(root / "train", train, **kw)
    _write(root / "test", test, seed=5000, **kw)


# --------------------------------------------------------------------------- layouts

def test_train_test_folders_are_used_as_given(tmp_path):
    _split_folder(tmp_path / "ds", {"cat": 4, "dog": 3, "fox": 5}, {"cat": 2, "dog": 1, "fox": 3}, size=(8, 8))
    d = load_dataset("folder", folder=tmp_path / "ds", image_size=8)
    assert d.classes == ["cat", "dog", "fox"]
    assert d.train_counts().tolist() == [4, 3, 5]
    assert d.test_counts().tolist() == [2, 1, 3]
    # The test set is exactly the test/ files, in order, pixel for pixel (8x8 PNGs: no resize).
    expected = np.stack([_img(5000 + 100 * k + i, (8, 8)) for k, n in enumerate([2, 1, 3]) for i in range(n)])
    assert np.array_equal(np.rint(d.x_test * 255).astype(np.uint8), expected.transpose(0, 3, 1, 2))
    assert d.y_test.tolist() == [0, 0, 1, 2, 2, 2]
    assert d.display_name == "ds (folder)" and d.name == "folder"


def test_flat_folder_keeps_the_per_class_holdout(tmp_path):
    _write(tmp_path / "ds", {"cat": 10, "dog": 5})
    d = load_image_folder(tmp_path / "ds", image_size=8)
    assert d.train_counts().tolist() == [8, 4] and d.test_counts().tolist() == [2, 1]
    assert scan_image_folder(tmp_path / "ds").split == "holdout"


def test_train_and_test_with_different_classes_name_them(tmp_path):
    _split_folder(tmp_path / "ds", {"cat": 2, "dog": 2, "emu": 2}, {"cat": 1, "dog": 1, "yak": 1})
    with pytest.raises(DatasetUnavailable) as info:
        load_image_folder(tmp_path / "ds")
    msg = str(info.value)
    assert "'emu' only in train/" in msg and "'yak' only in test/" in msg and "\n" not in msg


def test_empty_class_folder_is_named(tmp_path):
    _split_folder(tmp_path / "ds", {"cat": 2, "dog": 2}, {"cat": 1, "dog": 1})
    for f in (tmp_path / "ds" / "test" / "dog").iterdir():
        f.unlink()
    with pytest.raises(DatasetUnavailable, match=r"Class folder\(s\) 'test/dog' .* hold no image files"):
        load_image_folder(tmp_path / "ds")


def test_messages_name_the_folder_as_typed_and_an_upload_never_by_its_path(tmp_path, monkeypatch):
    """A zip without folder entries once became train/ + test/ with images straight inside: the
    message named the server's upload folder. Now the typed path, or "the uploaded image set"."""
    for root in (tmp_path / "typed", tmp_path / "uploads" / "zip-817b63fe648d7ab0cfd7"):
        _write(root / "train", {"only": 2})
        _write(root / "test", {"only": 1})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetUnavailable) as typed:
        load_image_folder("typed")
    assert str(typed.value) == ("The train/ folder of the image folder 'typed' has 1 class folder(s); it needs at "
                                "least 2 sub-folders of images (.png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff, .webp, "
                                ".pgm, .ppm), one per class.")
    upload = tmp_path / "uploads" / "zip-817b63fe648d7ab0cfd7"
    with pytest.raises(DatasetUnavailable) as up:
        load_image_folder(upload)
    assert str(up.value).startswith("The train/ folder of the uploaded image set has 1 class folder(s);")
    assert str(tmp_path) not in str(up.value)
    with pytest.raises(DatasetUnavailable) as missing:
        scan_image_folder("~/no such folder")
    assert str(missing.value) == "The image folder '~/no such folder' does not exist or is not a folder."
    assert folder_data.folder_subject(upload) == "the uploaded image set"


def test_hidden_files_and_folders_are_ignored(tmp_path):
    _write(tmp_path / "ds", {"cat": 3, "dog": 3})
    (tmp_path / "ds" / ".thumbs").mkdir()
    (tmp_path / "ds" / "cat" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "ds" / "cat" / "notes.txt").write_text("not an image")
    d = load_image_folder(tmp_path / "ds", image_size=8)
    assert d.classes == ["cat", "dog"] and len(d.y_train) + len(d.y_test) == 6


def test_mixed_grey_and_colour_is_rgb(tmp_path):
    flat = tmp_path / "flat"
    _write(flat, {"grey": 3}, mode="L")
    _write(flat, {"colour": 3}, mode="RGB", seed=9)
    assert load_image_folder(flat, image_size=8).x_train.shape[1:] == (3, 8, 8)
    grey = tmp_path / "grey"
    _write(grey, {"a": 3, "b": 3}, mode="L", ext="jpg")
    assert load_image_folder(grey, image_size=8).x_train.shape[1:] == (1, 8, 8)


def test_display_names():
    assert dataset_display_name("folder", "/work/shared/data/cifar10-jpeg") == "cifar10-jpeg (folder)"
    assert dataset_display_name("fashion-mnist") == "Fashion-MNIST"
    assert load_dataset("digits").display_name == "digits"


# --------------------------------------------------------------------------- cache

def test_second_load_comes_from_the_cache_without_decoding(tmp_path, cache_dir, monkeypatch):
    _split_folder(tmp_path / "ds", {"cat": 3, "dog": 2}, {"cat": 1, "dog": 1}, ext="jpg", size=(16, 16))
    before = sorted(p.name for p in (tmp_path / "ds").rglob("*"))
    first = load_image_folder(tmp_path / "ds", image_size=16)
    assert len(list(cache_dir.iterdir())) == 1
    assert sorted(p.name for p in (tmp_path / "ds").rglob("*")) == before  # nothing written in the data folder

    def no_decoding(*a, **k):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(folder_data, "decode_image_files", no_decoding)
    second = load_image_folder(tmp_path / "ds", image_size=16)
    assert np.array_equal(first.x_train, second.x_train) and np.array_equal(first.y_test, second.y_test)
    assert second.x_train.dtype == np.float32


def test_a_changed_folder_is_decoded_again_and_the_stale_entry_removed(tmp_path, cache_dir):
    _write(tmp_path / "ds", {"cat": 3, "dog": 3})
    load_image_folder(tmp_path / "ds", image_size=8)
    old = {p.name for p in cache_dir.iterdir()}
    Image.fromarray(_img(77)).save(tmp_path / "ds" / "dog" / "new.png")
    d = load_image_folder(tmp_path / "ds", image_size=8)
    assert len(d.y_train) + len(d.y_test) == 7
    new = {p.name for p in cache_dir.iterdir()}
    assert len(new) == 1 and new != old
    load_image_folder(tmp_path / "ds", image_size=16)  # another size is another entry
    assert len(list(cache_dir.iterdir())) == 2


def test_the_cache_keeps_to_its_budget_least_recently_used_first(tmp_path, cache_dir):
    for name in ("a", "b", "c"):
        _write(tmp_path / name, {"cat": 2, "dog": 2})
    load_image_folder(tmp_path / "a", image_size=8)
    (entry_a,) = cache_dir.iterdir()
    one = sum(f.stat().st_size for f in entry_a.iterdir())
    load_image_folder(tmp_path / "b", image_size=8, cache_max_bytes=2 * one)
    (entry_b,) = set(cache_dir.iterdir()) - {entry_a}
    os.utime(entry_a, ns=(2, 2))
    os.utime(entry_b, ns=(1, 1))  # "b" written before "a" ...
    load_image_folder(tmp_path / "b", image_size=8, cache_max_bytes=2 * one)  # ... but read since
    load_image_folder(tmp_path / "c", image_size=8, cache_max_bytes=2 * one)
    assert len(list(cache_dir.iterdir())) == 2 and entry_b.exists() and not entry_a.exists()


def test_unwritable_cache_warns_and_still_loads(tmp_path):
    _write(tmp_path / "ds", {"cat": 2, "dog": 2})
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="could not be cached"):
        d = load_image_folder(tmp_path / "ds", image_size=8, cache_dir=blocker / "cache")
    assert d.train_counts().tolist() == [1, 1]


def test_a_damaged_cache_entry_is_ignored(tmp_path, cache_dir):
    _write(tmp_path / "ds", {"cat": 3, "dog": 3})
    first = load_image_folder(tmp_path / "ds", image_size=8)
    (entry,) = cache_dir.iterdir()
    (entry / "x_train.npy").write_bytes(b"garbage")
    again = load_image_folder(tmp_path / "ds", image_size=8)
    assert np.array_equal(first.x_train, again.x_train)


def test_progress_and_cancel(tmp_path):
    _write(tmp_path / "ds", {"cat": 3, "dog": 3})
    seen = []
    load_image_folder(tmp_path / "ds", image_size=8, cache=False, progress=lambda *done_total: seen.append(done_total))
    assert seen[-1] == (6, 6)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        load_image_folder(tmp_path / "ds", image_size=8, cache=False, cancel=stop)


# --------------------------------------------------------------------------- bad files

def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` (a decompression bomb's header)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF)
    return bytes(data)


def _jpeg_declaring(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("name, payload, cap", [
    ("bomb.png", _png_declaring(9_000, 9_000), None),           # our cap (64 MP), before Pillow's (89 MP)
    ("bomb.jpg", _jpeg_declaring(30_000, 30_000), None),        # the JPEG fast path's header check
    ("huge.png", _png_declaring(100_000, 100_000), 10**12),     # a cap above Pillow's: its own guard
])
def test_a_decompression_bomb_is_one_sentence_with_the_file_name(tmp_path, name, payload, cap):
    _write(tmp_path / "ds", {"cat": 3, "dog": 3})
    (tmp_path / "ds" / "dog" / name).write_bytes(payload)
    kw = {} if cap is None else {"max_pixels": cap}
    with pytest.raises(DatasetUnavailable) as info:
        load_image_folder(tmp_path / "ds", cache=False, **kw)
    msg = str(info.value)
    assert msg.startswith(f"dog/{name} is too large to load safely") and "decompression bomb" in msg
    assert "\n" not in msg and "BytesIO" not in msg
    if cap is None:
        assert "more than the cap of 64,000,000 (a possible decompression bomb); shrink or remove it" in msg
    else:
        assert "it declares 10,000,000,000 pixels, more than Pillow's limit of" in msg


def test_unreadable_files_are_named_and_counted(tmp_path):
    _write(tmp_path / "ds", {"cat": 3, "dog": 3})
    (tmp_path / "ds" / "dog" / "broken.png").write_bytes(b"this is not a png")
    (tmp_path / "ds" / "cat" / "cut.jpg").write_bytes(_jpeg_declaring(8, 8)[:40])
    with pytest.raises(DatasetUnavailable) as info:
        load_image_folder(tmp_path / "ds", cache=False)
    msg = str(info.value)
    assert msg.startswith("cat/cut.jpg is not a readable image (")
    assert "(1 other file(s) fail too)" in msg and "BytesIO" not in msg and "\n" not in msg


# --------------------------------------------------------------------------- decoding

def test_fast_jpeg_path_matches_pillow(tmp_path):
    Image.fromarray(_img(1, (32, 32))).save(tmp_path / "rgb.jpg", quality=75)
    Image.fromarray(_img(2, (32, 32), "L"), "L").save(tmp_path / "grey.jpg", quality=75)
    Image.fromarray(_img(3, (40, 24))).save(tmp_path / "small.jpg")      # resized, still the fast path
    with decoding_warnings():
        out = decode_image_files([str(tmp_path / n) for n in ("rgb.jpg", "grey.jpg", "small.jpg")], 32)
    for img, name in zip(out, ("rgb.jpg", "grey.jpg", "small.jpg"), strict=True):
        with Image.open(tmp_path / name) as im:
            ref = np.asarray(im.convert("RGB").resize((32, 32), Image.BILINEAR)).transpose(2, 0, 1)
        assert np.array_equal(img.pixels, ref), name
    assert [img.gray for img in out] == [False, True, False]
    assert jpeg_header((tmp_path / "small.jpg").read_bytes()) == (40, 24, 3)
    assert jpeg_header(b"\x89PNG\r\n") is None


def test_large_jpeg_goes_through_draft_mode(tmp_path):
    Image.fromarray(_img(4, (512, 384))).save(tmp_path / "big.jpg")
    img = decode_image_file(tmp_path / "big.jpg", 32)
    assert img.pixels.shape == (3, 32, 32) and img.pixels.dtype == np.uint8 and not img.gray


# --------------------------------------------------------------------------- class names

@pytest.mark.parametrize("raw, safe", [
    (["a", "a_2", "a~"], ["a", "a_2", "a_3"]),
    (["a~", "a", "a_2"], ["a_3", "a", "a_2"]),
    (["cat dog", "cat_dog", "cat/dog"], ["cat_dog_2", "cat_dog", "cat_dog_3"]),
    (["", "...", "ok"], ["class", "class_2", "ok"]),
    (["x" * 70, "x" * 61], ["x" * 55 + "_2", "x" * 60]),  # the shorter name sorts first and keeps its cut
])
def test_class_names_stay_distinct_after_sanitising(raw, safe):
    names = unique_class_names(raw)
    assert [names[n] for n in raw] == safe
    assert len(set(names.values())) == len(raw)


def test_cli_trains_on_a_train_test_folder_as_is(tmp_path, monkeypatch, capsys):
    from eos_core.cli import main

    _split_folder(tmp_path / "ds", {"cat": 6, "dog": 3}, {"cat": 2, "dog": 2}, size=(8, 8))
    rc = main(["train", "--dataset", "folder", "--folder", str(tmp_path / "ds"), "--profile", "as_is",
               "--model", "small_cnn", "--epochs", "1", "--json", "--runs-dir", str(tmp_path / "runs")])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["classes"] == ["cat", "dog"] and out["train_counts"] == [6, 3] and out["test_counts"] == [2, 2]


def test_a_missing_standard_dataset_names_the_folder_inside_the_data_root_only(tmp_path):
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset("mnist", tmp_path / "no-data")
    msg = str(err.value)
    assert msg.startswith("MNIST is not available in MNIST/raw/ of the data folder (EOS_DATA_DIR or --data-dir) "
                          "and could not be downloaded (")
    assert msg.endswith("); put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
                        "t10k-labels-idx1-ubyte.gz there (or go online) and try again.")
    assert str(tmp_path) not in msg


def test_a_too_large_folder_stops_the_scan_early(tmp_path, monkeypatch):
    """A typed "~" must not walk a whole disk: the scan stops at the image or entry limit."""
    _write(tmp_path / "ds", {"cat": 3, "dog": 3}, size=(4, 4))
    (tmp_path / "ds" / "dog" / "notes").mkdir()
    for i in range(4):
        (tmp_path / "ds" / "dog" / "notes" / f"{i}.txt").write_text("x")
    with pytest.raises(DatasetUnavailable) as err:
        scan_image_folder(tmp_path / "ds", max_images=5)
    assert str(err.value) == (f"The image folder '{tmp_path / 'ds'}' has more than 5 images; at most 5 are supported "
                              "in memory.")
    assert scan_image_folder(tmp_path / "ds", max_images=6).n_files == 6
    monkeypatch.setattr(folder_data._Walk, "max_entries", property(lambda self: 9))  # 3 + 4 + 4 entries below
    with pytest.raises(DatasetUnavailable) as err:
        scan_image_folder(tmp_path / "ds", max_images=6)
    assert str(err.value) == (f"The image folder '{tmp_path / 'ds'}' holds more than 9 files and folders; name a "
                              "folder of images (one sub-folder per class, or train/ and test/).")
