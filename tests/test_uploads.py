"""Bounded zip uploads: budget against a bomb (disk and memory ceilings), member caps, dedupe, sweep."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from eos_core.data import (
    MAX_IMAGES,
    dataset_display_name,
    ingest_zip,
    load_dataset,
    marker_path,
    max_entries,
    sweep_uploads,
    unique_class_names,
    zip_display_name,
)
from eos_core.data import _folder as folder_data
from eos_core.data import _uploads as uploads
from eos_core.errors import UploadRejected

ROOT = Path(__file__).resolve().parents[1]


def _png(value: int = 0) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8), value).save(buf, "PNG")
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


GOOD = {"set/cat/1.png": _png(10), "set/cat/2.png": _png(20), "set/dog/1.png": _png(200), "set/dog/2.png": _png(210)}


def test_good_upload_is_unpacked_and_reuploads_reuse_the_folder(tmp_path):
    folder, classes = ingest_zip(_zip(GOOD), tmp_path)
    assert classes == ["cat", "dog"]
    files = sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())
    assert files == ["cat/0000000.png", "cat/0000001.png", "dog/0000002.png", "dog/0000003.png"]
    assert marker_path(Path(folder)).is_file()
    again, classes2 = ingest_zip(_zip(GOOD), tmp_path)  # the same bytes: the same folder, nothing rewritten
    assert (again, classes2) == (folder, classes)
    other, _ = ingest_zip(_zip({**GOOD, "set/dog/3.png": _png(220)}), tmp_path)
    assert other != folder
    names = [Path(folder).name, Path(other).name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names + [n + ".json" for n in names])


def test_a_zip_file_on_disk_is_accepted(tmp_path):
    path = tmp_path / "up.zip"
    path.write_bytes(_zip(GOOD))
    folder, classes = ingest_zip(path, tmp_path / "uploads")
    assert classes == ["cat", "dog"] and Path(folder).parent == tmp_path / "uploads"


def test_unique_class_names():
    assert unique_class_names(["a", "a_2", "a~"]) == {"a": "a", "a_2": "a_2", "a~": "a_3"}
    assert unique_class_names(["b!", "b", "b_2"]) == {"b": "b", "b_2": "b_2", "b!": "b_3"}
    assert unique_class_names(["Cat", "cat"]) == {"Cat": "Cat", "cat": "cat_2"}  # case-insensitive disks
    assert unique_class_names(["..", "~~"]) == {"..": "class", "~~": "class_2"}


def test_entry_count_is_refused_before_the_member_list_is_parsed(tmp_path, monkeypatch):
    assert max_entries(100) == 1100  # images plus room for folder entries and a few other files
    data = _zip({f"c{i % 2}/{i}.png": b"" for i in range(1200)})

    def no_parse(*_a, **_k):
        raise AssertionError("the member list was parsed")

    monkeypatch.setattr(zipfile, "ZipFile", no_parse)
    with pytest.raises(UploadRejected) as err:
        ingest_zip(data, tmp_path, max_images=100)
    assert str(err.value) == ("The archive lists 1,200 entries, more than 100 images and their folders need; at "
                              "most 100 images are supported.")
    assert list(tmp_path.iterdir()) == []


def test_the_image_limit_counts_images_not_folder_entries(tmp_path):
    members = {f"set/c{i % 3}/{i}.png": _png(i) for i in range(12)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for d in ("set/", "set/c0/", "set/c1/", "set/c2/", "set/notes/"):
            zf.writestr(zipfile.ZipInfo(d), b"")  # folder entries, as `zip -r` writes them
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("set/README.txt", b"not an image")
    folder, classes = ingest_zip(buf.getvalue(), tmp_path / "a", max_images=12)  # 18 entries, 12 images
    assert classes == ["c0", "c1", "c2"] and len(list(Path(folder).rglob("*.png"))) == 12
    with pytest.raises(UploadRejected) as err:
        ingest_zip(buf.getvalue(), tmp_path / "b", max_images=11)
    assert str(err.value) == "The archive has 12 images; at most 11 are supported."
    assert MAX_IMAGES == 200_000 and folder_data.scan_image_folder.__kwdefaults__["max_images"] == MAX_IMAGES


def test_no_archive_is_one_sentence(tmp_path):
    for nothing in (None, 3, ["a.zip"]):
        with pytest.raises(UploadRejected) as err:
            ingest_zip(nothing, tmp_path)
        assert str(err.value) == "No .zip archive was given; choose a .zip file of images to upload."
    assert list(tmp_path.iterdir()) == []


def _raw_bomb(member_mb: int, names: tuple[str, ...] = ("cat/1.png", "dog/1.png"), *,
              declared_bytes: int | None = None) -> bytes:
    """A zip whose deflate members each expand to ``member_mb`` MB of zeros (about 1 KB per MB).

    Built from one full-flush deflate block repeated, so it takes milliseconds; for big members the
    CRC field is left 0 (an extractor that respects its budget never reaches the end to check it).
    ``declared_bytes``: the size the headers claim for each member (a lie when it differs).
    """
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(bytes(1 << 20)) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.flush(zlib.Z_FINISH)
    stream = block * member_mb + tail
    size = member_mb << 20 if declared_bytes is None else declared_bytes
    crc = 0
    for _ in range(member_mb if member_mb <= 16 else 0):
        crc = zlib.crc32(bytes(1 << 20), crc)
    out, central = io.BytesIO(), io.BytesIO()
    for name in names:
        offset = out.tell()
        raw = name.encode()
        out.write(struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 8, 0, 0x21, crc, len(stream), size, len(raw), 0))
        out.write(raw + stream)
        central.write(struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 8, 0, 0x21, crc, len(stream),
                                  size, len(raw), 0, 0, 0, 0, 0o644 << 16, offset) + raw)
    cd = central.getvalue()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(names), len(names), len(cd), out.tell(), 0)
    return out.getvalue() + cd + end


_BOMB_CHILD = textwrap.dedent("""
    import json, os, resource, sys, tracemalloc
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    import eos_core.data._uploads as up
    from eos_core.errors import UploadRejected
    data, dest = Path(sys.argv[2]).read_bytes(), Path(sys.argv[3])
    caps = {"max_bytes": int(sys.argv[4])} if int(sys.argv[4]) else {}  # 0: the defaults
    peak_disk = [0]
    real_copy = up._copy
    def copy(*args):
        try:
            return real_copy(*args)
        finally:
            peak_disk[0] = max(peak_disk[0], sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()))
    up._copy = copy
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        up.ingest_zip(data, dest, **caps)
        msg = None
    except UploadRejected as err:
        msg = str(err)
    py_peak = tracemalloc.get_traced_memory()[1]
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    left = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) if dest.exists() else 0
    print(json.dumps({"message": msg, "peak_disk": peak_disk[0], "left": left, "py_peak": py_peak,
                      "rss_growth_kb": rss1 - rss0}))
""")


def _run_bomb(tmp_path: Path, bomb: bytes, budget: int = 0) -> dict:
    """Ingest ``bomb`` in a child process; its message, peak bytes on disk, bytes left, memory."""
    (tmp_path / "bomb.zip").write_bytes(bomb)
    out = subprocess.run([sys.executable, "-c", _BOMB_CHILD, str(ROOT), str(tmp_path / "bomb.zip"),
                          str(tmp_path / "uploads"), str(budget)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    print("bomb:", len(bomb), "bytes zip;", res)  # the figures quoted in bench/RESULTS.md
    return res


def test_a_bomb_that_declares_its_size_is_refused_before_anything_is_written(tmp_path):
    bomb = _raw_bomb(1536)  # two members of 1.5 GB each: 3 GB of zeros in a ~3 MB zip
    assert len(bomb) < 4 << 20
    res = _run_bomb(tmp_path, bomb, budget=32 << 20)
    assert res["message"] == "The archive member 'cat/1.png' unpacks to 1536 MB; at most 64 MB per image are accepted."
    assert res["peak_disk"] == 0 and res["left"] == 0
    with pytest.raises(UploadRejected) as err:  # members under the per-image cap, together over the budget
        ingest_zip(_raw_bomb(2), tmp_path / "up", max_bytes=3 << 20)
    assert str(err.value) == "The archive unpacks to more than 3 MB of images; upload a smaller image set."
    assert not (tmp_path / "up").exists()


@pytest.mark.parametrize("declared_mb", [1, 64])
def test_a_bomb_that_lies_about_its_sizes_stops_at_the_declared_size(tmp_path, declared_mb):
    # Headers claim declared_mb per member (64 MB: the most one image may declare), the data is 1.5 GB each.
    bomb = _raw_bomb(1536, declared_bytes=declared_mb << 20)
    res = _run_bomb(tmp_path, bomb)  # the default caps (1 GiB budget)
    assert res["message"] == ("The archive member 'cat/1.png' is damaged (Bad CRC-32 for file 'cat/1.png'); "
                              "re-create the zip.")
    # Disk ceiling: what the first member declared (less its last chunk, which fails the CRC check
    # before it is written), far below 100 MB; nothing is left behind.
    assert res["peak_disk"] == (declared_mb - 1) << 20 and declared_mb << 20 < 100 << 20
    assert res["left"] == 0
    # Memory ceiling: Python allocations stay within a few chunks (the bomb's 3 MB bytes are already held);
    # the process's peak RSS grows by less than 64 MB, whereas reading members whole would need 1.5 GB.
    assert res["py_peak"] < 8 << 20
    assert res["rss_growth_kb"] < 64 * 1024


def test_a_member_longer_than_declared_stops_before_the_extra_bytes(tmp_path, monkeypatch):
    """The writer's own check, without zipfile's cut at the declared size (which it does not rely on)."""
    written: list[int] = []
    real_open = open

    class Spy(io.FileIO):
        def write(self, b):
            written.append(len(b))
            return super().write(b)

    monkeypatch.setattr(uploads, "open", lambda p, mode="r", *a, **k: Spy(p, "wb") if "w" in mode
                        else real_open(p, mode, *a, **k), raising=False)
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, n=-1: bytes(n if n > 0 else 10), raising=True)
    with pytest.raises(UploadRejected) as err:
        ingest_zip(_zip(GOOD), tmp_path)
    assert str(err.value).startswith("The archive member 'set/cat/1.png' unpacks to more than the ")
    assert written == [] and list(tmp_path.iterdir()) == []


def test_budget_is_counted_over_all_members(tmp_path, monkeypatch):
    monkeypatch.setattr("eos_core.data._uploads._check_image", lambda *a: None)  # zeros are not an image
    monkeypatch.setattr("eos_core.data._uploads._check_declared", lambda *a: None)  # as if the headers were believed
    with pytest.raises(UploadRejected, match="more than 3 MB"):
        ingest_zip(_raw_bomb(2), tmp_path, max_bytes=3 << 20)  # 2 MB + 2 MB: the second member crosses it
    assert [p.name for p in tmp_path.iterdir()] == []
    folder, _ = ingest_zip(_raw_bomb(2), tmp_path, max_bytes=4 << 20)  # exactly the budget: accepted
    assert sum(p.stat().st_size for p in Path(folder).rglob("*.png")) == 4 << 20


def test_sweep_removes_abandoned_uploads_but_keeps_used_and_recent_ones(tmp_path):
    used, _ = ingest_zip(_zip(GOOD), tmp_path)
    old, _ = ingest_zip(_zip({**GOOD, "set/cat/3.png": _png(30)}), tmp_path)
    recent, _ = ingest_zip(_zip({**GOOD, "set/cat/4.png": _png(40)}), tmp_path)
    stale_tmp = tmp_path / ".tmp-0123456789abcdef"
    stale_tmp.mkdir()
    fresh_tmp = tmp_path / ".tmp-fedcba9876543210"  # an ingest in progress elsewhere
    fresh_tmp.mkdir()
    week_ago = time.time() - 7 * 24 * 3600
    for path in (marker_path(Path(used)), marker_path(Path(old)), stale_tmp):
        os.utime(path, (week_ago, week_ago))
    removed = sweep_uploads(tmp_path, max_age_s=24 * 3600, keep=[used])
    assert sorted(removed) == sorted([old, str(stale_tmp)])
    assert Path(used).is_dir() and Path(recent).is_dir() and fresh_tmp.is_dir()
    assert not marker_path(Path(old)).exists()
    again, _ = ingest_zip(_zip({**GOOD, "set/cat/3.png": _png(30)}), tmp_path)  # re-uploaded after a sweep
    assert again == old and len(list(Path(old).rglob("*.png"))) == 5


def test_app_extract_is_a_thin_call_that_sweeps(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_RUNS_DIR", str(tmp_path))
    from ui import uploads

    folder, classes = uploads.extract_image_zip(_zip(GOOD))
    assert classes == ["cat", "dog"] and Path(folder).parent == tmp_path / "uploads"
    with pytest.raises(UploadRejected, match="not a .zip"):
        uploads.extract_image_zip(b"nope")


# --------------------------------------------------------------------------- train/ + test/ as given

SPLIT_COUNTS = {"train": {"cat": 5, "dog": 3, "emu": 2}, "test": {"cat": 2, "dog": 2, "emu": 1}}


def _write_split_tree(root: Path, counts: dict[str, dict[str, int]]) -> None:
    for split, per_class in counts.items():
        for cls, n in per_class.items():
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                (root / split / cls / f"{i}.png").write_bytes(_png(10 * i))


@pytest.mark.skipif(shutil.which("zip") is None, reason="needs the zip command")
@pytest.mark.parametrize("flags", ["-qr", "-qrD"])  # with folder entries (zip -r) and without them (zip -D)
@pytest.mark.parametrize("wrapped", [True, False])  # zip of the folder, or of its train/ and test/
def test_a_train_test_zip_is_used_as_given(tmp_path, flags, wrapped):
    src = tmp_path / "src" / "myset"
    _write_split_tree(src, SPLIT_COUNTS)
    archive = tmp_path / "myset.zip"
    cwd, targets = (src.parent, ["myset"]) if wrapped else (src, ["train", "test"])
    subprocess.run(["zip", flags, str(archive), *targets], cwd=cwd, check=True)
    names = zipfile.ZipFile(archive).namelist()
    assert any(n.endswith("/") for n in names) is (flags == "-qr")
    folder, classes = ingest_zip(archive, tmp_path / "uploads")
    assert classes == ["cat", "dog", "emu"]
    layout = folder_data.scan_image_folder(folder)
    assert layout.split == "given"
    d = load_dataset("folder", folder=folder, image_size=8)
    assert d.classes == ["cat", "dog", "emu"]
    assert d.train_counts().tolist() == [5, 3, 2] and d.test_counts().tolist() == [2, 2, 1]


@pytest.mark.parametrize("members, message", [
    ({"train/cat/1.png": 1, "train/dog/1.png": 1, "test/cat/1.png": 1, "test/fox/1.png": 1},
     "The archive's train/ and test/ folders hold different classes ('dog' only in train/; 'fox' only in test/); "
     "give both the same class folders."),
    ({"train/cat/1.png": 1, "train/dog/1.png": 1, "test/cat/1.png": 1, "test/dog/1.png": 1, "val/cat/1.png": 1},
     "The archive has train/ and test/ folders and also images outside them (in 'val/'); keep only train/ and "
     "test/."),
    ({"train/1.png": 1, "train/dog/1.png": 1, "test/cat/1.png": 1},
     "Images in train/ and test/ must sit in one sub-folder per class (train/class_name/image.png), not directly "
     "in train/ or test/."),
    ({"train/cat/1.png": 1, "test/cat/1.png": 1},
     "The archive's train/ folder has 1 class folder; at least 2 are needed."),
])
def test_a_bad_train_test_zip_is_one_sentence(tmp_path, members, message):
    with pytest.raises(UploadRejected) as err:
        ingest_zip(_zip({f"wrap/{name}": _png() for name in members}), tmp_path)
    assert str(err.value) == message
    assert list(tmp_path.iterdir()) == []


def test_messages_never_name_the_servers_upload_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # the upload root is under a file: it cannot be created
    with pytest.raises(UploadRejected) as err:
        ingest_zip(_zip(GOOD), blocker / "uploads")
    assert str(err.value) == "The server cannot store uploads right now (Not a directory)."


def test_display_names_come_from_the_zip_file_name():
    assert zip_display_name("cifar10-jpeg.zip") == "cifar10-jpeg (zip)"
    assert zip_display_name("C:\\Users\\me\\My Set.ZIP") == "My Set (zip)"
    assert zip_display_name(None) == zip_display_name(".zip") == "uploaded images (zip)"
    assert zip_display_name("a\x00b\n.zip") == "ab (zip)"
    hashed = "/srv/runs/uploads/zip-817b63fe648d7ab0cfd7"
    assert dataset_display_name("folder", hashed) == "uploaded images (zip)"  # never the hash
    assert dataset_display_name("folder", hashed, "cifar10-jpeg (zip)") == "cifar10-jpeg (zip)"
    assert dataset_display_name("folder", "/data/cifar10-jpeg") == "cifar10-jpeg (folder)"
